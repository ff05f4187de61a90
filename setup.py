"""Maps the repository's top-level folders under the one import name `yatt`.

protos/ -> yatt.protos, services/ -> yatt.services, controller/ -> yatt.controller,
placement/ -> yatt.placement, so no generic top-level name lands in site-packages.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "yatt": "yatt",
    "yatt.protos": "protos",
    "yatt.services": "services",
    "yatt.controller": "controller",
    "yatt.placement": "placement",
}

packages, package_dir = [], {}
for name, folder in FOLDERS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)

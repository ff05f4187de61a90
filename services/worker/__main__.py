"""`python -m yatt.services.worker --slot N --job J ...` = `yatt worker ...`."""

import typer

from yatt.commands.worker import worker

typer.run(worker)

"""The weight transport interface: the trainer publishes a version once and sends it to each
rollout instance; the rollout receives a manifest's tensors, loads them, then releases them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch

from yatt.transport.manifest import WeightManifest


@dataclass(frozen=True)
class Delivery:
    """A rollout's acknowledgement of one version (its LoadWeightsReply)."""

    weight_version: int  # the proto field is `version` (wire names stay)
    tensors: int
    bytes: int


class WeightLoader(Protocol):
    """The rollout end of a delivery: services.rollout.client.RolloutClient (domain errors)."""

    target: str  # the rollout's host:port

    async def load_weights(
        self,
        weight_version: int,
        tensors: Mapping[str, torch.Tensor],
        *,
        timeout_s: float,
        chunk_bytes: int = ...,
    ) -> Delivery: ...

    async def load_weights_from_manifest(
        self, manifest: WeightManifest, *, timeout_s: float
    ) -> Delivery: ...


class WeightSender(abc.ABC):
    """Trainer side. publish() is blocking (run it in a thread); send() is one rollout instance."""

    name: ClassVar[str]

    @abc.abstractmethod
    def publish(self, version: int, tensors: Mapping[str, torch.Tensor]) -> WeightManifest:
        """Makes the version available (idempotent per version); newer versions supersede it."""

    @abc.abstractmethod
    async def send(
        self,
        rollout: WeightLoader,
        manifest: WeightManifest,
        tensors: Mapping[str, torch.Tensor],
        *,
        timeout_s: float,
    ) -> Delivery:
        """Delivers a published version to one rollout; raises yatt.errors domain errors."""

    def release(self, version: int) -> None:  # noqa: B027 - nothing held by default
        """No more sends of this version will start: its resources may go once sends finish."""

    def close(self) -> None:  # noqa: B027
        """Frees everything (the trainer is exiting)."""


class WeightReceiver(abc.ABC):
    """Rollout side. receive() is blocking and verifies the manifest; raises InvalidArgument."""

    name: ClassVar[str]

    @abc.abstractmethod
    def receive(self, manifest: WeightManifest) -> Mapping[str, torch.Tensor]:
        """The version's tensors, checked against the manifest (valid until release)."""

    def release(self, version: int) -> None:  # noqa: B027
        """The engine has copied the version into its own parameters: drop what receive holds."""

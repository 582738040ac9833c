"""Multi-process training with ``torchrun`` (no home-made launcher).

``torchrun --nproc_per_node=K -m gvis train CONFIG`` starts K processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`init_distributed` joins the process group
(gloo on CPU, nccl on GPU). The engine decides every stop on all processes alike (:func:`any_process`) and
lets only rank 0 write files; the tracker's trainer wraps its objective in ``DistributedDataParallel`` and
gives each process its share of every global batch (:class:`~gvis.train.stream.ClipStream`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1); else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def any_process(flags: torch.Tensor, info: DistInfo, device: torch.device | str = "cpu") -> torch.Tensor:
    """``flags`` (a bool / 0-1 vector) OR-ed over every process, so that all of them decide alike.

    ``device``: where the reduction runs (nccl reduces CUDA tensors only). Returns a CPU bool tensor.
    """
    if not info.enabled:
        return flags.bool()
    total = flags.float().to(device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.cpu() > 0


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()

"""Constant-velocity Kalman filter on boxes, as in SORT / DeepSORT (Wojke et al., ICIP 2017).

State ``x = [u, v, a, h, u', v', a', h']``: box centre ``(u, v)``, aspect ratio ``a = w / h``, height ``h``
and their velocities (pixels or ratio per frame); the measurement is ``z = [u, v, a, h]``. One frame is
one time step::

    predict:  x ← F x,            P ← F P Fᵀ + Q          F = [[I, I], [0, I]] (4×4 blocks)
    project:  z̄ = H x,            S = H P Hᵀ + R          H = [I, 0]
    update:   K = P Hᵀ S⁻¹,       x ← x + K (z − z̄),       P ← P − K S Kᵀ

The noise is diagonal and proportional to the box height (DeepSORT's choice): position standard
deviation ``position_weight · h``, velocity ``velocity_weight · h``, with small fixed values for the aspect
ratio (``1e-2`` / ``1e-5`` in ``Q``, ``1e-1`` in ``R``). A new track starts at the measurement with zero
velocity and standard deviations ``2 · position_weight · h`` (position) and ``10 · velocity_weight · h``
(velocity). Everything is vectorised over ``M`` tracks (arrays ``[M, 8]`` and ``[M, 8, 8]``, float64).
"""
from __future__ import annotations

import numpy as np

#: 0.95 quantile of the χ² distribution with 4 degrees of freedom: the Mahalanobis gate on ``[u, v, a, h]``.
CHI2_95_4DOF = 9.4877

_F = np.block([[np.eye(4), np.eye(4)], [np.zeros((4, 4)), np.eye(4)]])  # [8, 8]
_H = np.eye(4, 8)  # [4, 8]


def boxes_to_measurements(boxes: np.ndarray) -> np.ndarray:
    """``[N, 4]`` ``x1, y1, x2, y2`` boxes → ``[N, 4]`` ``u, v, a, h`` (width and height at least 1 pixel,
    so that a degenerate box has a finite aspect ratio)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    width = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, width / height, height], axis=1)


def states_to_boxes(means: np.ndarray) -> np.ndarray:
    """``[M, 8]`` states → ``[M, 4]`` ``x1, y1, x2, y2`` boxes of their ``u, v, a, h``."""
    means = np.asarray(means, dtype=np.float64).reshape(-1, 8)
    height = means[:, 3]
    width = means[:, 2] * height
    return np.stack([means[:, 0] - width / 2, means[:, 1] - height / 2, means[:, 0] + width / 2, means[:, 1] + height / 2], axis=1)


def _diagonal(std: np.ndarray) -> np.ndarray:
    """``[M, K]`` standard deviations → ``[M, K, K]`` diagonal covariances."""
    return np.einsum("mk,kl->mkl", std**2, np.eye(std.shape[1]))


class BoxKalmanFilter:
    """The filter's equations (module docstring); it holds no track state.

    Args:
        position_weight: position noise per pixel of box height (DeepSORT: 1/20).
        velocity_weight: velocity noise per pixel of box height (DeepSORT: 1/160).
    """

    def __init__(self, position_weight: float = 1.0 / 20, velocity_weight: float = 1.0 / 160) -> None:
        self.position_weight = position_weight
        self.velocity_weight = velocity_weight

    def initiate(self, measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States of new tracks from ``[N, 4]`` measurements: means ``[N, 8]``, covariances ``[N, 8, 8]``."""
        z = np.asarray(measurements, dtype=np.float64).reshape(-1, 4)
        h = z[:, 3]
        pos, vel = 2 * self.position_weight * h, 10 * self.velocity_weight * h
        std = np.stack([pos, pos, np.full_like(h, 1e-2), pos, vel, vel, np.full_like(h, 1e-5), vel], axis=1)
        return np.concatenate([z, np.zeros_like(z)], axis=1), _diagonal(std)

    def predict(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead: ``x ← F x``, ``P ← F P Fᵀ + Q`` (``Q`` from the current height)."""
        h = means[:, 3]
        pos, vel = self.position_weight * h, self.velocity_weight * h
        std = np.stack([pos, pos, np.full_like(h, 1e-2), pos, vel, vel, np.full_like(h, 1e-5), vel], axis=1)
        return means @ _F.T, _F @ covariances @ _F.T + _diagonal(std)

    def project(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement space: ``z̄ = H x`` ``[M, 4]`` and ``S = H P Hᵀ + R`` ``[M, 4, 4]``."""
        pos = self.position_weight * means[:, 3]
        std = np.stack([pos, pos, np.full_like(pos, 1e-1), pos], axis=1)
        return means @ _H.T, _H @ covariances @ _H.T + _diagonal(std)

    def update(self, means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row-aligned correction of ``M`` states by ``[M, 4]`` measurements."""
        projected, innovation_cov = self.project(means, covariances)
        cross = covariances @ _H.T  # P Hᵀ: [M, 8, 4]
        gain = np.linalg.solve(innovation_cov, cross.transpose(0, 2, 1)).transpose(0, 2, 1)  # [M, 8, 4]; S symmetric
        innovation = np.asarray(measurements, dtype=np.float64).reshape(-1, 4) - projected
        new_means = means + np.einsum("mkl,ml->mk", gain, innovation)
        new_covariances = covariances - gain @ innovation_cov @ gain.transpose(0, 2, 1)
        return new_means, new_covariances

    def gating_distance(self, means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray) -> np.ndarray:
        """``[M, N]`` squared Mahalanobis distance of every measurement ``[N, 4]`` to every track's
        projected distribution (compare with :data:`CHI2_95_4DOF`)."""
        projected, innovation_cov = self.project(means, covariances)
        diff = np.asarray(measurements, dtype=np.float64).reshape(1, -1, 4) - projected[:, None, :]  # [M, N, 4]
        solved = np.linalg.solve(innovation_cov[:, None, :, :], diff[..., None])[..., 0]  # S⁻¹ d
        return np.einsum("mnk,mnk->mn", diff, solved)

"""Example-based explanations: a class's prototypes and criticisms by MMD-critic."""

from .kernels import median_heuristic_gamma, rbf_kernel
from .mmd_critic import MMDCritic, mmd_critic, mmd_critic_per_class, select_criticisms, select_prototypes

__all__ = [
    "MMDCritic",
    "median_heuristic_gamma",
    "mmd_critic",
    "mmd_critic_per_class",
    "rbf_kernel",
    "select_criticisms",
    "select_prototypes",
]

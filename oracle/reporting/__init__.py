"""Pool discovery, proof checking, reconciliation and safety holds, and the per-cycle report pipeline."""

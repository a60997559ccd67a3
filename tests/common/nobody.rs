//! Running things as `nobody` (placeholder; filled in by the next commit).

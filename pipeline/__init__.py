"""Pure media logic: paths, frames and arrays in, dataclasses out. No Ray, database or HTTP here."""

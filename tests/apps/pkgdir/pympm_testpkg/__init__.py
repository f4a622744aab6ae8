"""A package importable through `PyPath @APPS@/pkgdir`."""

"""Pages: pure UI over the state classes."""

// Placeholder while the module is being built; replaced by its real sources.

"""Training: the loop, the restorer's and the detector's tasks, data, losses, perceptual
features and model surgery. Not imported by the app."""

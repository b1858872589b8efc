"""Training: the Trainer (classification and regression), the fast CIFAR recipe, transfer learning, detection."""

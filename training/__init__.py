"""Offline work: training the models from tenant data and logs, and evaluating them."""

"""Monitoring: logging, TensorBoard, progress, sample grids and the run summary."""

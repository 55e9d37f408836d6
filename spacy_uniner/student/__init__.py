"""The compact span student: batch building, the torch module and thinc model, the component,
its training data, thresholds, pretraining and CLI."""

"""The bottom data layer: gold docs, the dataset readers and catalogue, the paper's metric."""

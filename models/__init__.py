"""Networks and how they are made: skeleton formats, architectures, datasets, training, evaluation."""

"""Stories: the model, parsing every input format, headlines and summaries, and intake from every door."""

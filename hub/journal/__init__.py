"""The patient's journal as a person reads it: the phrase catalogue (fr, de, en) and its
renderings as text, HTML and PDF. The lines themselves are built in hub.ops.journal."""

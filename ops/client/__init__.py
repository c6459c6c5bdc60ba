"""Using the API: the client that posts photos to /predict and reads back ranked breeds."""

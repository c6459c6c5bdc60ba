"""Photos in: downloading Stanford Dogs and summarising LST files (`invoke data.download`, `invoke lst`)."""

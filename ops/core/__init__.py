"""What every stage shares: the configuration, the state file, AWS clients, the project's names on AWS, the artifact record and its in-process loader."""

"""Training: on this machine as a SageMaker container would, or as a SageMaker training/tuning job, with its cost and S3 upload."""

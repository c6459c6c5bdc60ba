locals {
  # vCPUs of the real-time instance types the stack serves the PyTorch model on (AWS's published counts
  # for the EC2 types behind them). One single-threaded TorchServe worker per vCPU served the most
  # requests in this project's benchmarks, so each type's count sets SAGEMAKER_MODEL_SERVER_WORKERS.
  # Another type needs realtime.model_server_workers. Graviton (no x86 PyTorch image) and Inferentia
  # (Neuron) types are left out on purpose.
  realtime_instance_vcpus = {
    "ml.m5.large"      = 2
    "ml.m5.xlarge"     = 4
    "ml.m5.2xlarge"    = 8
    "ml.m5.4xlarge"    = 16
    "ml.m5.12xlarge"   = 48
    "ml.m5.24xlarge"   = 96
    "ml.m5d.large"     = 2
    "ml.m5d.xlarge"    = 4
    "ml.m5d.2xlarge"   = 8
    "ml.m5d.4xlarge"   = 16
    "ml.m5d.12xlarge"  = 48
    "ml.m5d.24xlarge"  = 96
    "ml.m6i.large"     = 2
    "ml.m6i.xlarge"    = 4
    "ml.m6i.2xlarge"   = 8
    "ml.m6i.4xlarge"   = 16
    "ml.m6i.8xlarge"   = 32
    "ml.m6i.12xlarge"  = 48
    "ml.m6i.16xlarge"  = 64
    "ml.m6i.24xlarge"  = 96
    "ml.m6i.32xlarge"  = 128
    "ml.c5.large"      = 2
    "ml.c5.xlarge"     = 4
    "ml.c5.2xlarge"    = 8
    "ml.c5.4xlarge"    = 16
    "ml.c5.9xlarge"    = 36
    "ml.c5.18xlarge"   = 72
    "ml.c5d.large"     = 2
    "ml.c5d.xlarge"    = 4
    "ml.c5d.2xlarge"   = 8
    "ml.c5d.4xlarge"   = 16
    "ml.c5d.9xlarge"   = 36
    "ml.c5d.18xlarge"  = 72
    "ml.c6i.large"     = 2
    "ml.c6i.xlarge"    = 4
    "ml.c6i.2xlarge"   = 8
    "ml.c6i.4xlarge"   = 16
    "ml.c6i.8xlarge"   = 32
    "ml.c6i.12xlarge"  = 48
    "ml.c6i.16xlarge"  = 64
    "ml.c6i.24xlarge"  = 96
    "ml.c6i.32xlarge"  = 128
    "ml.c7i.large"     = 2
    "ml.c7i.xlarge"    = 4
    "ml.c7i.2xlarge"   = 8
    "ml.c7i.4xlarge"   = 16
    "ml.c7i.8xlarge"   = 32
    "ml.c7i.12xlarge"  = 48
    "ml.c7i.16xlarge"  = 64
    "ml.c7i.24xlarge"  = 96
    "ml.c7i.48xlarge"  = 192
    "ml.r5.large"      = 2
    "ml.r5.xlarge"     = 4
    "ml.r5.2xlarge"    = 8
    "ml.r5.4xlarge"    = 16
    "ml.r5.12xlarge"   = 48
    "ml.r5.24xlarge"   = 96
    "ml.t2.large"      = 2
    "ml.t2.xlarge"     = 4
    "ml.t2.2xlarge"    = 8
    "ml.g4dn.xlarge"   = 4
    "ml.g4dn.2xlarge"  = 8
    "ml.g4dn.4xlarge"  = 16
    "ml.g4dn.8xlarge"  = 32
    "ml.g4dn.12xlarge" = 48
    "ml.g4dn.16xlarge" = 64
    "ml.g5.xlarge"     = 4
    "ml.g5.2xlarge"    = 8
    "ml.g5.4xlarge"    = 16
    "ml.g5.8xlarge"    = 32
    "ml.g5.12xlarge"   = 48
    "ml.g5.16xlarge"   = 64
    "ml.g5.24xlarge"   = 96
    "ml.g5.48xlarge"   = 192
    "ml.p3.2xlarge"    = 8
    "ml.p3.8xlarge"    = 32
    "ml.p3.16xlarge"   = 64
  }
}

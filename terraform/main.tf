data "aws_caller_identity" "current" {}

locals {
  bucket_name          = coalesce(var.bucket_name, "${var.name}-${data.aws_caller_identity.current.account_id}-${var.region}")
  endpoint_name        = var.name
  lambda_function_name = "${var.name}-predict"

  # The contract with training/inference.py in the SageMaker PyTorch inference image. Real-time: one
  # single-threaded worker per vCPU of the instance type; with realtime.model_server_workers, each worker
  # gets its share of the vCPUs (at least one thread). Serverless: AWS sizes the vCPUs by memory and
  # does not publish the count, so one worker, whose threads default to all the cores it finds.
  realtime        = var.endpoint_type == "realtime"
  realtime_vcpus  = local.realtime ? lookup(local.realtime_instance_vcpus, var.realtime.instance_type, 1) : 1
  serving_workers = local.realtime ? coalesce(var.realtime.model_server_workers, local.realtime_vcpus) : 1
  worker_threads  = tostring(max(1, floor(local.realtime_vcpus / local.serving_workers)))
  serving_threads = { for name in ["DOGS_INFERENCE_THREADS", "OMP_NUM_THREADS"] : name => local.worker_threads if local.realtime }
  pytorch_environment = merge({
    SAGEMAKER_PROGRAM              = "inference.py"
    SAGEMAKER_SUBMIT_DIRECTORY     = "/opt/ml/model/code"
    SAGEMAKER_CONTAINER_LOG_LEVEL  = "20"
    SAGEMAKER_REGION               = var.region
    SAGEMAKER_MODEL_SERVER_WORKERS = tostring(local.serving_workers)
  }, local.serving_threads)
  # The built-in algorithm's image serves its own artifact: none of the PyTorch container's variables.
  # The user's inference_environment wins over both.
  inference_environment = merge({ for k, v in local.pytorch_environment : k => v if var.algorithm == "pytorch" }, var.inference_environment)

  # The contract with predict_lambda/handler.py.
  lambda_environment = {
    ENDPOINT_NAME            = local.endpoint_name
    CLASS_NAMES              = jsonencode(var.class_names)
    MODEL_ID                 = var.model_id
    MAX_IMAGES               = tostring(var.limits.max_images)
    MAX_BODY_BYTES           = tostring(coalesce(var.limits.max_body_bytes, local.realtime ? 5242880 : 4194304))
    ENDPOINT_TIMEOUT_SECONDS = tostring(var.limits.endpoint_timeout_seconds)
    DEFAULT_TOP_K            = tostring(var.limits.default_top_k)
    LOG_LEVEL                = var.limits.log_level
    CORS_ALLOWED_ORIGINS     = jsonencode(var.cors_allowed_origins)
    # inference.py's answer with the known-breed verdict; the built-in image's own JSON otherwise
    ENDPOINT_ACCEPT = var.algorithm == "builtin" ? "application/json" : "application/json; verbose=true"
  }
}

# The serving stack needs a model; only the storage and training modules (`-target`, as
# `invoke deploy --training-only` applies them before the first training job) can do without one.
resource "terraform_data" "model" {
  lifecycle {
    precondition {
      condition     = var.model_data_url != null && var.class_names != null
      error_message = "model_data_url and class_names are required (`invoke deploy` reads both from the artifact); only the storage and training modules apply without them."
    }
  }
}

module "storage" {
  source = "./modules/storage"

  bucket_name                        = local.bucket_name
  force_destroy                      = var.bucket_force_destroy
  noncurrent_version_expiration_days = var.bucket_noncurrent_version_expiration_days
}

module "iam" {
  source = "./modules/iam"

  name                 = var.name
  bucket_arn           = module.storage.bucket_arn
  bucket_prefix        = var.bucket_prefix
  model_data_url       = var.model_data_url
  image_uri            = var.image_uri
  endpoint_name        = local.endpoint_name
  lambda_function_name = local.lambda_function_name
}

module "training" {
  source = "./modules/training"

  name          = var.name
  bucket_arn    = module.storage.bucket_arn
  bucket_prefix = var.bucket_prefix
  image_uris    = var.training_image_uris
}

module "endpoint" {
  source = "./modules/endpoint"

  name           = local.endpoint_name
  role_arn       = module.iam.sagemaker_role_arn
  image_uri      = var.image_uri
  model_data_url = var.model_data_url
  environment    = local.inference_environment
  endpoint_type  = var.endpoint_type
  realtime       = var.realtime
  serverless     = var.serverless
  rollback       = var.rollback
}

module "lambda" {
  source = "./modules/lambda"

  function_name = local.lambda_function_name
  role_arn      = module.iam.lambda_role_arn
  package = {
    path        = var.lambda_package.path
    sha256_b64  = var.lambda_package.sha256_b64
    handler     = "predict_lambda.handler.handler"
    runtime     = "python3.12"
    memory_size = var.lambda.memory_size
    timeout     = var.lambda.timeout
  }
  environment          = local.lambda_environment
  reserved_concurrency = var.lambda.reserved_concurrency
  log_retention_days   = var.lambda.log_retention_days
}

module "api" {
  source = "./modules/api"

  name                   = var.name
  stage_name             = var.stage_name
  lambda_function_name   = module.lambda.function_name
  lambda_invoke_arn      = module.lambda.function_invoke_arn
  binary_media_types     = var.binary_media_types
  throttle               = var.throttle
  log_retention_days     = var.lambda.log_retention_days
  manage_cloudwatch_role = var.manage_apigateway_cloudwatch_role
  logging                = var.api_logging
  waf_web_acl_arn        = var.api_waf_web_acl_arn
  cors_allowed_origins   = var.cors_allowed_origins
  try_it_page            = var.try_it_page
  clients                = var.api_clients
  authorization          = var.api_authorization
  api_key_required       = var.api_key_required
  retry_after_seconds    = var.api_retry_after_seconds
}

# ---- Naming and place
variable "name" {
  description = "Name of the stack: the endpoint, Lambda, API and roles are named after it."
  type        = string
  default     = "dog-breeds"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "tags" {
  description = "Tags added to every resource (beside Project and ManagedBy)."
  type        = map(string)
  default     = {}
}

# ---- Storage
variable "bucket_name" {
  description = "Bucket for data and model artifacts; null: <name>-<account id>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9, '.' and '-'."
  }
}

variable "bucket_prefix" {
  description = "Key prefix of the project's objects in the bucket; SageMaker may read below it."
  type        = string
  default     = "dogs/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$", var.bucket_prefix))
    error_message = "bucket_prefix must end in '/' and not start with '/', e.g. dogs/."
  }
}

variable "bucket_noncurrent_version_expiration_days" {
  description = "Days after which replaced object versions are deleted; null: no lifecycle rule (the provider waits about a minute for a new rule to settle; throw-away local stacks skip it)."
  type        = number
  default     = 90

  validation {
    condition     = var.bucket_noncurrent_version_expiration_days == null || try(var.bucket_noncurrent_version_expiration_days >= 1, false)
    error_message = "bucket_noncurrent_version_expiration_days must be at least 1, or null."
  }
}

variable "bucket_force_destroy" {
  description = "Let destroy delete the bucket with its objects (for throw-away stacks)."
  type        = bool
  default     = false
}

# ---- Model
variable "model_data_url" {
  description = "s3:// URL of the trained model.tar.gz (from `invoke train`). A new URL rolls out a new model. Required, but for an apply of the storage and training modules alone before any model exists (`invoke deploy --training-only`)."
  type        = string
  default     = null

  validation {
    condition     = var.model_data_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^/]+/)*[^/]*model\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an S3 URL of a model archive, s3://<bucket>/<key>/model.tar.gz."
  }
}

variable "model_id" {
  description = "Identifier of the trained model, reported by the API (MODEL_ID)."
  type        = string
  default     = "unknown"

  validation {
    condition     = can(regex("^[A-Za-z0-9._:-]{1,128}$", var.model_id))
    error_message = "model_id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'."
  }
}

variable "class_names" {
  description = "Breed display names in class-id order (classes.json), given to the Lambda as CLASS_NAMES. Required with model_data_url."
  type        = list(string)
  default     = null

  validation {
    condition     = try(length(var.class_names) >= 2 && alltrue([for c in var.class_names : length(trimspace(c)) > 0]), var.class_names == null)
    error_message = "class_names must list at least two non-empty breed names."
  }
}

variable "image_uri" {
  description = "ECR URI of the inference image (the SageMaker PyTorch inference image of aws.pytorch_version, or the built-in algorithm's; `invoke deploy` looks it up)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must be an ECR image URI, <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>."
  }

  # Serverless Inference has no GPUs (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html).
  validation {
    condition     = var.endpoint_type != "serverless" || !strcontains(var.image_uri, "-gpu")
    error_message = "image_uri is a GPU image, and a serverless endpoint runs on CPU only: use the CPU image (invoke deploy picks it), or endpoint_type = realtime with a GPU instance type."
  }
}

variable "algorithm" {
  description = "What trained the model: pytorch (training/train.py; the PyTorch image runs training/inference.py with the workers/threads environment) or builtin (SageMaker's image-classification algorithm, served by its own image with no such environment)."
  type        = string
  default     = "pytorch"

  validation {
    condition     = contains(["pytorch", "builtin"], var.algorithm)
    error_message = "algorithm must be pytorch or builtin."
  }
}

variable "inference_environment" {
  description = "Extra environment of the inference container; its entries win over the stack's (SAGEMAKER_PROGRAM, SAGEMAKER_MODEL_SERVER_WORKERS, DOGS_INFERENCE_THREADS, OMP_NUM_THREADS...)."
  type        = map(string)
  default     = {}
}

variable "training_image_uris" {
  description = "ECR images the training role may pull: the SageMaker PyTorch training image of aws.pytorch_version and the built-in algorithm's (`invoke deploy` looks them up); empty: none (no training job can start)."
  type        = list(string)
  default     = []
}

# ---- Endpoint
variable "endpoint_type" {
  description = "realtime: instances with autoscaling; serverless: pay per request (memory and concurrency)."
  type        = string
  default     = "serverless"

  validation {
    condition     = contains(["realtime", "serverless"], var.endpoint_type)
    error_message = "endpoint_type must be realtime or serverless."
  }
}

variable "realtime" {
  description = "Real-time endpoint: instance type and count, autoscaling bounds, target invocations per instance per minute, TorchServe workers per instance (null: the type's vCPUs, each single-threaded; otherwise each worker gets vCPUs ÷ workers threads, at least one), and the ARN of a KMS key for the instances' storage volume (null: SageMaker's default encryption; the key policy must let the principal that applies the stack use it for SageMaker; types with local NVMe storage, such as m5d or g4dn, take none)."
  type = object({
    instance_type                   = optional(string, "ml.m5.large")
    kms_key_arn                     = optional(string)
    initial_instance_count          = optional(number, 1)
    min_capacity                    = optional(number, 1)
    max_capacity                    = optional(number, 2)
    target_invocations_per_instance = optional(number, 100)
    model_server_workers            = optional(number)
  })
  default = {}

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[0-9]*x?large$", var.realtime.instance_type))
    error_message = "realtime.instance_type must be a SageMaker instance type such as ml.m5.large."
  }

  validation {
    condition = (var.realtime.min_capacity >= 1 && var.realtime.min_capacity <= var.realtime.initial_instance_count
    && var.realtime.initial_instance_count <= var.realtime.max_capacity && var.realtime.max_capacity <= 100)
    error_message = "realtime needs 1 <= min_capacity <= initial_instance_count <= max_capacity <= 100."
  }

  validation {
    condition     = var.realtime.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", var.realtime.kms_key_arn))
    error_message = "realtime.kms_key_arn must be the ARN of a KMS key or alias, arn:aws:kms:<region>:<account>:key/<id>, or null."
  }

  # Local NVMe volumes are encrypted by the instance's hardware, and CreateEndpointConfig refuses a key
  # for them (KmsKeyId in https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html).
  validation {
    condition     = var.realtime.kms_key_arn == null || !can(regex("^ml\\.([a-z]+[0-9][a-z]*d[a-z]*|g5|g6|g6e|p5|p5e|trn1)\\.", var.realtime.instance_type))
    error_message = "realtime.kms_key_arn must be null for an instance type with local NVMe storage (such as ml.m5d, ml.c5d, ml.g4dn, ml.g5): SageMaker encrypts it in hardware and refuses a key."
  }

  validation {
    condition     = var.realtime.target_invocations_per_instance > 0
    error_message = "realtime.target_invocations_per_instance must be positive."
  }

  validation {
    condition     = var.realtime.model_server_workers == null || try(var.realtime.model_server_workers >= 1 && floor(var.realtime.model_server_workers) == var.realtime.model_server_workers, false)
    error_message = "realtime.model_server_workers must be a whole number of at least 1, or null (the instance type's vCPUs)."
  }

  validation {
    condition     = var.endpoint_type != "realtime" || var.algorithm != "pytorch" || var.realtime.model_server_workers != null || contains(keys(local.realtime_instance_vcpus), var.realtime.instance_type)
    error_message = "realtime.instance_type must be one whose vCPUs set the workers: ml.m5, m5d, m6i, c5, c5d, c6i, c7i, r5 (large to 48xlarge), ml.t2 (large to 2xlarge), ml.g4dn, g5 (xlarge up) or ml.p3 (2xlarge up), as listed in terraform/instance_types.tf; for another type set realtime.model_server_workers."
  }
}

# Limits: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html
variable "serverless" {
  description = "Serverless endpoint: memory (MB), most concurrent invocations, provisioned concurrency (0: none)."
  type = object({
    memory_size_in_mb       = optional(number, 3072)
    max_concurrency         = optional(number, 5)
    provisioned_concurrency = optional(number, 0)
  })
  default = {}

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless.memory_size_in_mb)
    error_message = "serverless.memory_size_in_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144."
  }

  validation {
    condition     = var.serverless.max_concurrency >= 1 && var.serverless.max_concurrency <= 200 && floor(var.serverless.max_concurrency) == var.serverless.max_concurrency
    error_message = "serverless.max_concurrency must be a whole number from 1 to 200."
  }

  validation {
    condition     = var.serverless.provisioned_concurrency >= 0 && var.serverless.provisioned_concurrency <= var.serverless.max_concurrency && floor(var.serverless.provisioned_concurrency) == var.serverless.provisioned_concurrency
    error_message = "serverless.provisioned_concurrency must be a whole number from 0 (none) to max_concurrency."
  }
}

variable "rollback" {
  description = "Blue/green rollout of a new model: bake time, and the alarm thresholds that roll it back."
  type = object({
    wait_interval_in_seconds = optional(number, 300)
    max_5xx_errors           = optional(number, 5)
    max_model_latency_ms     = optional(number, 2000)
  })
  default = {}

  validation {
    condition     = var.rollback.wait_interval_in_seconds >= 0 && var.rollback.wait_interval_in_seconds <= 3600
    error_message = "rollback.wait_interval_in_seconds must be from 0 to 3600."
  }
}

# ---- Lambda
variable "lambda_package" {
  description = "The Lambda zip built by ops/deploy/lambda_package.py: its path and base64 SHA-256."
  type = object({
    path       = string
    sha256_b64 = string
  })

  validation {
    condition     = endswith(var.lambda_package.path, ".zip") && can(regex("^[A-Za-z0-9+/]{43}=$", var.lambda_package.sha256_b64))
    error_message = "lambda_package must name a .zip and its base64 SHA-256 (44 characters)."
  }
}

variable "lambda" {
  description = "Lambda memory (MB), timeout (s, below API Gateway's 29 s), reserved concurrency and log retention (days)."
  type = object({
    memory_size          = optional(number, 256)
    timeout              = optional(number, 25)
    reserved_concurrency = optional(number, 10)
    log_retention_days   = optional(number, 30)
  })
  default = {}

  validation {
    condition     = var.lambda.timeout >= 1 && var.lambda.timeout <= 28
    error_message = "lambda.timeout must be from 1 to 28 seconds (API Gateway gives up after 29)."
  }

  validation {
    condition     = var.lambda.memory_size >= 128 && var.lambda.memory_size <= 10240
    error_message = "lambda.memory_size must be from 128 to 10240 MB."
  }

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.lambda.log_retention_days)
    error_message = "lambda.log_retention_days must be a CloudWatch retention such as 7, 30, 90 or 365."
  }
}

variable "limits" {
  description = "What the API accepts and answers: images per request, body bytes (null: 5 MiB, 4 MiB for serverless), endpoint timeout, default top-k, log level."
  type = object({
    max_images               = optional(number, 8)
    max_body_bytes           = optional(number)
    endpoint_timeout_seconds = optional(number, 20)
    default_top_k            = optional(number, 5)
    log_level                = optional(string, "INFO")
  })
  default = {}

  validation {
    condition     = var.limits.max_images >= 1 && (var.limits.max_body_bytes == null || try(var.limits.max_body_bytes >= 1024 && var.limits.max_body_bytes <= 6291456, false))
    error_message = "limits.max_images must be at least 1 and limits.max_body_bytes from 1024 to 6291456 (Lambda's 6 MB payload), or null."
  }

  # A raw image body goes to the endpoint as it came; a serverless invocation takes at most 4 MB
  # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html).
  validation {
    condition     = var.endpoint_type != "serverless" || var.limits.max_body_bytes == null || try(var.limits.max_body_bytes <= 4194304, false)
    error_message = "limits.max_body_bytes must be at most 4194304 for a serverless endpoint (its 4 MB payload limit), or null."
  }

  validation {
    condition     = var.limits.endpoint_timeout_seconds >= 1 && var.limits.endpoint_timeout_seconds < var.lambda.timeout
    error_message = "limits.endpoint_timeout_seconds must be at least 1 and below lambda.timeout."
  }

  validation {
    condition     = var.limits.default_top_k >= 1 && contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.limits.log_level)
    error_message = "limits.default_top_k must be at least 1 and limits.log_level one of DEBUG, INFO, WARNING, ERROR."
  }
}

# ---- API
variable "stage_name" {
  description = "API Gateway stage."
  type        = string
  default     = "beta"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,128}$", var.stage_name))
    error_message = "stage_name must be 1-128 characters of A-Z, a-z, 0-9 and '_'."
  }
}

variable "binary_media_types" {
  description = "Request content types API Gateway hands to the Lambda base64-encoded: the raw image types the Lambda accepts (predict_lambda/payload.py IMAGE_TYPES)."
  type        = list(string)
  default     = ["image/jpeg", "image/png", "application/x-image", "application/octet-stream"]
}

variable "throttle" {
  description = "Usage plan and stage limits: steady requests per second, burst, requests per day."
  type = object({
    rate_limit  = optional(number, 10)
    burst_limit = optional(number, 20)
    daily_quota = optional(number, 10000)
  })
  default = {}

  validation {
    condition     = var.throttle.rate_limit > 0 && var.throttle.burst_limit >= 1 && var.throttle.daily_quota >= 1
    error_message = "throttle needs rate_limit > 0, burst_limit >= 1 and daily_quota >= 1."
  }
}

variable "manage_apigateway_cloudwatch_role" {
  description = "Create a CloudWatch role and make it the region's API Gateway account setting, which every API in the account and region shares and which destroy unsets again. false (default): the setting is left alone, and the stage's access and execution logs (api_logging) need a role already set there; API Gateway refuses them otherwise."
  type        = bool
  default     = false
}

variable "api_logging" {
  description = "What the stage logs to CloudWatch: access logs (a JSON line per request) and execution logs at OFF, ERROR or INFO. Both need the region's API Gateway CloudWatch role (manage_apigateway_cloudwatch_role, or one the account already has); where there is none, use { access_logs = false, execution_level = \"OFF\" }."
  type = object({
    access_logs     = optional(bool, true)
    execution_level = optional(string, "ERROR")
  })
  default = { access_logs = true, execution_level = "ERROR" }

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.api_logging.execution_level)
    error_message = "api_logging.execution_level must be OFF, ERROR or INFO."
  }
}

variable "api_waf_web_acl_arn" {
  description = "ARN of a regional WAFv2 web ACL to associate with the API stage; null: no WAF (a web ACL is billed monthly and per request)."
  type        = string
  default     = null

  validation {
    condition     = var.api_waf_web_acl_arn == null || can(regex("^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$", var.api_waf_web_acl_arn))
    error_message = "api_waf_web_acl_arn must be the ARN of a regional WAFv2 web ACL, arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>, or null."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to call the API (CORS), each scheme://host[:port] without a path, or [\"*\"] for any; [] (default): no CORS header on any answer. They get the OPTIONS preflight and CORS headers on every answer, errors included (API Gateway's own through its gateway responses)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : o == "*" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", o))])
    error_message = "cors_allowed_origins must hold origins like https://app.example.com or http://localhost:8080 (scheme, host, optional port; no path or trailing slash), or \"*\"."
  }

  validation {
    condition     = !contains(var.cors_allowed_origins, "*") || length(var.cors_allowed_origins) == 1
    error_message = "cors_allowed_origins: \"*\" allows every origin; give it alone."
  }
}

variable "try_it_page" {
  description = "Serve the try-it page (drop a photo, see the breeds) at GET / of the stage; it needs the API key like any client."
  type        = bool
  default     = true
}

variable "api_clients" {
  description = "API clients by name, each with its own API key (output api_client_keys) and usage plan, so one client cannot spend another's quota: requests per second, burst, and requests per quota_period (DAY, WEEK or MONTH). The stage's own limits (throttle) still cap them all together."
  type = map(object({
    rate_limit   = optional(number, 5)
    burst_limit  = optional(number, 10)
    quota_limit  = optional(number, 1000)
    quota_period = optional(string, "DAY")
  }))
  default = {}

  validation {
    condition     = alltrue([for name, c in var.api_clients : can(regex("^[A-Za-z0-9_-]{1,64}$", name)) && c.rate_limit > 0 && c.burst_limit >= 1 && c.quota_limit >= 1 && contains(["DAY", "WEEK", "MONTH"], c.quota_period)])
    error_message = "api_clients: names of 1-64 letters, digits, _ or -; rate_limit > 0, burst_limit >= 1, quota_limit >= 1, quota_period DAY, WEEK or MONTH."
  }
}

variable "api_authorization" {
  description = "How POST /predict authenticates callers: NONE (API keys only) or AWS_IAM (SigV4-signed requests by IAM principals holding the output api_invoke_policy_arn, for server-to-server callers)."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.api_authorization)
    error_message = "api_authorization must be NONE or AWS_IAM."
  }
}

variable "api_key_required" {
  description = "Whether every request must also carry an API key of a usage plan (x-api-key); false only with api_authorization = AWS_IAM."
  type        = bool
  default     = true

  validation {
    condition     = var.api_key_required || var.api_authorization == "AWS_IAM"
    error_message = "api_key_required = false leaves the API open: set api_authorization = \"AWS_IAM\" too."
  }
}

variable "api_retry_after_seconds" {
  description = "Retry-After in seconds of the API's 429 answers: when throttled, and when a client's quota is spent (a fixed hint: API Gateway cannot compute the time to the quota's reset)."
  type = object({
    throttled      = optional(number, 1)
    quota_exceeded = optional(number, 3600)
  })
  default = {}

  validation {
    condition     = var.api_retry_after_seconds.throttled >= 1 && var.api_retry_after_seconds.quota_exceeded >= 1
    error_message = "api_retry_after_seconds: both at least 1."
  }
}

# ---- Cost
variable "budget" {
  description = "Optional monthly cost budget: e-mail when the forecast passes 80% or the actual cost passes 100% of monthly_usd. Both null (the default): no budget."
  type = object({
    monthly_usd = optional(number)
    email       = optional(string)
  })
  default = {}

  validation {
    condition     = (var.budget.monthly_usd == null) == (var.budget.email == null)
    error_message = "budget needs both monthly_usd and email, or neither."
  }
  validation {
    condition     = var.budget.monthly_usd == null || try(var.budget.monthly_usd > 0, false)
    error_message = "budget.monthly_usd must be a positive number of US dollars."
  }
  validation {
    condition     = var.budget.email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.budget.email))
    error_message = "budget.email must be an e-mail address."
  }
}

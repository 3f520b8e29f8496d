################################################################################
# The deployment this API serves (outputs of modules/imgpipe)
################################################################################

variable "name" {
  description = "Name of the deployment (e.g. imgpipe-prod). The API, its function and role, log groups, user pool, page bucket and alarms are named `<name>-api…`, `<name>-web…`. 3-28 lowercase letters, digits and hyphens, starting with a letter."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,26}[a-z0-9]$", var.name))
    error_message = "name must be 3-28 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (the page bucket adds 21 characters and must stay within 63)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 40
    error_message = "tags may hold at most 40 keys (AWS allows 50 per resource; default_tags need the rest)."
  }
}

variable "image_uri" {
  description = "The image the processing function runs, by digest (`<repository>@sha256:…`; modules/imgpipe output lambda_function_image_uri). The API function runs it with the command `index.api`."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@sha256:[0-9a-f]{64}$", var.image_uri))
    error_message = "image_uri must name the image by digest: <repository>@sha256:<64 hex digits>."
  }
}

variable "architectures" {
  description = "Lambda architecture of the API function: [\"arm64\"] or [\"x86_64\"], the one image_uri was built for."
  type        = list(string)
  default     = ["arm64"]
  nullable    = false

  validation {
    condition     = length(var.architectures) == 1 && contains(["arm64", "x86_64"], var.architectures[0])
    error_message = "architectures must be [\"arm64\"] or [\"x86_64\"]."
  }
}

variable "function_environment" {
  description = "The processing function's environment (modules/imgpipe output lambda_environment): the API reads the same pipeline document, output bucket and prefix, and status table."
  type        = map(string)
  nullable    = false

  validation {
    condition     = contains(keys(var.function_environment), "IMGPIPE_OUTPUT_BUCKET") && contains(keys(var.function_environment), "IMGPIPE_STATUS_TABLE")
    error_message = "function_environment must hold IMGPIPE_OUTPUT_BUCKET and IMGPIPE_STATUS_TABLE: the API reads outputs and the status table (create_status_table in modules/imgpipe)."
  }
}

variable "source_bucket_id" {
  description = "The source bucket (modules/imgpipe output source_bucket_id): uploads go there under upload_prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.source_bucket_id))
    error_message = "source_bucket_id must be a bucket name (3-63 lowercase letters, digits, dots and hyphens)."
  }
}

variable "source_bucket_arn" {
  description = "ARN of the source bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.source_bucket_arn))
    error_message = "source_bucket_arn must be the ARN of the source bucket (arn:aws:s3:::<bucket>)."
  }
}

variable "output_bucket_arn" {
  description = "ARN of the output bucket (variants and manifests)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.output_bucket_arn))
    error_message = "output_bucket_arn must be the ARN of the output bucket (arn:aws:s3:::<bucket>)."
  }
}

variable "status_table_arn" {
  description = "ARN of the status table (modules/imgpipe output status_table_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$", var.status_table_arn))
    error_message = "status_table_arn must be a DynamoDB table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)."
  }
}

variable "kms_key_arn" {
  description = "The deployment's KMS key (buckets and status table): the API function decrypts with it and, for presigned uploads, generates data keys."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic for the API's alarms (modules/imgpipe output sns_topic_arn), or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be null or an SNS topic ARN."
  }
}

variable "kms_key_administrator_arns" {
  description = "IAM roles or users (ARNs, up to 10) named in the API key's policy as its administrators, besides the account's IAM policies: typically the deploy role that runs Terraform (as for modules/imgpipe). They must exist. Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.kms_key_administrator_arns) <= 10 && alltrue([for arn in var.kms_key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "kms_key_administrator_arns must hold at most 10 IAM role or user ARNs."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the API function's role, or null."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be null or an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)."
  }
}

################################################################################
# The function
################################################################################

variable "memory_size" {
  description = "Memory of the API function in MB, 128-10240. It processes no image: 512 is plenty."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Timeout of the API function in seconds, 3-30 (API Gateway's integration timeout is 30 s)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.timeout >= 3 && var.timeout <= 30
    error_message = "timeout must be between 3 and 30 seconds."
  }
}

variable "log_retention_in_days" {
  description = "Days CloudWatch keeps the function's and the access logs: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "tracing_enabled" {
  description = "X-Ray tracing of the API function."
  type        = bool
  default     = true
  nullable    = false
}

variable "upload_prefix" {
  description = "Key prefix of uploads: `<upload_prefix><owner>/<id>/<file name>`. Ends with `/`, or empty; no leading `/`, `*` or `?` (wildcards in the grant made of it). Empty makes every owner's folder a top-level folder of the source bucket: only for a bucket of uploads alone, since an owner whose id is another top-level folder's name (a `sub` an issuer lets users choose) would own its keys."
  type        = string
  default     = "uploads/"
  nullable    = false

  validation {
    condition     = var.upload_prefix == "" || (endswith(var.upload_prefix, "/") && !can(regex("[*?]", var.upload_prefix)) && alltrue([for s in split("/", trimsuffix(var.upload_prefix, "/")) : s != "" && s != "." && s != ".."]))
    error_message = "upload_prefix must be empty, or end with / and have no empty (a leading / or //), . or .. segment, as the function's IMGPIPE_UPLOAD_PREFIX check requires, and no * or ?: the role's grant is <upload_prefix>*, where they are wildcards (\"*/\" would reach every source key with a /)."
  }
}

variable "upload_expires_seconds" {
  description = "How long a presigned upload stays valid, 60-3600 seconds, cut to the expiration of the credentials that sign it where the SDK knows it (S3 refuses the POST once they expire)."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.upload_expires_seconds >= 60 && var.upload_expires_seconds <= 3600
    error_message = "upload_expires_seconds must be between 60 and 3600."
  }
}

variable "download_expires_seconds" {
  description = "How long a presigned GET of an output stays valid, 60-43200 seconds (without cdn_url), cut to the expiration of the credentials that sign it where the SDK knows it, else to 3600 for session credentials such as Lambda's, whose expiration it cannot read (S3 refuses the URL once they expire)."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.download_expires_seconds >= 60 && var.download_expires_seconds <= 43200
    error_message = "download_expires_seconds must be between 60 and 43200."
  }
}

variable "cdn_url" {
  description = "Base URL of the outputs on a CDN (https://images.example.com): outputs are given as <cdn_url>/<key>. Null: short-lived presigned GETs."
  type        = string
  default     = null

  validation {
    condition     = var.cdn_url == null || can(regex("^https://[^/?#\\s]+(/[^?#\\s]*)?$", var.cdn_url))
    error_message = "cdn_url must be an https:// URL without a query or fragment."
  }
}

variable "admin_group" {
  description = "Members of this group may list, read and delete every image: a Cognito group (`cognito:groups`), or a `groups` claim holding this one value. With another issuer whose tokens list several groups, use admin_scope. The user pool, when created, has it."
  type        = string
  default     = "admin"
  nullable    = false

  validation {
    condition     = can(regex("^\\S{1,128}$", var.admin_group))
    error_message = "admin_group must be a group name of 1-128 characters without spaces."
  }
}

variable "admin_scope" {
  description = "Tokens with this scope may do the same as the admin group."
  type        = string
  default     = "imgpipe/admin"
  nullable    = false

  validation {
    condition     = can(regex("^[!#-\\[\\]-~]{1,256}$", var.admin_scope))
    error_message = "admin_scope must be one OAuth scope: 1-256 printable ASCII characters without spaces, quotes or backslashes."
  }
}

################################################################################
# Authentication
################################################################################

variable "create_cognito_user_pool" {
  description = "Create a Cognito user pool (`<name>-users`) with a hosted sign-in domain, a public app client (authorization code with PKCE) for the web page, and the admin group; its tokens are what the JWT authorizer accepts. Needs web_dir or an origin in cors_allowed_origins (other than *): the client's callback URLs, without which Cognito refuses it; https:// ones, as Cognito takes http:// for localhost alone."
  type        = bool
  default     = false
  nullable    = false
}

variable "cognito_domain_prefix" {
  description = "Prefix of the user pool's hosted sign-in domain (`<prefix>.auth.<region>.amazoncognito.com`); default `<name>-<account id>`."
  type        = string
  default     = null

  validation {
    condition     = var.cognito_domain_prefix == null || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.cognito_domain_prefix))
    error_message = "cognito_domain_prefix must be 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "jwt_issuer" {
  description = "Issuer URL of another OpenID Connect provider (e.g. https://example.eu.auth0.com/), instead of the user pool. Its tokens must be RS256 JWTs whose `aud` or `client_id` is one of jwt_audience."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_issuer == null || can(regex("^https://", var.jwt_issuer))
    error_message = "jwt_issuer must be an https:// URL."
  }
}

variable "jwt_audience" {
  description = "Audiences (client ids) the authorizer accepts with jwt_issuer."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for audience in var.jwt_audience : length(trimspace(audience)) > 0])
    error_message = "jwt_audience must hold client ids, not empty strings."
  }
}

variable "allow_anonymous" {
  description = "Deploy the API without authentication (every caller is the owner `anonymous`). Refused unless set to true explicitly, when neither create_cognito_user_pool nor jwt_issuer is set."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Traffic
################################################################################

variable "throttling_rate_limit" {
  description = "Requests per second of each route the stage holds to its default limits (API Gateway's steady-state rate; a bucket per route, not one for the routes together: with route_throttling's default, GET /images, GET /images/{key+} and DELETE /images/{key+} each take this many), 1-10000."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.throttling_rate_limit >= 1 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be between 1 and 10000."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of each route the stage holds to its default limits (a bucket per route, as throttling_rate_limit), a whole number 1-5000."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = floor(var.throttling_burst_limit) == var.throttling_burst_limit && var.throttling_burst_limit >= 1 && var.throttling_burst_limit <= 5000
    error_message = "throttling_burst_limit must be a whole number between 1 and 5000 (API Gateway takes a burst in whole requests)."
  }
}

variable "route_throttling" {
  description = "Per-route limits, keyed by route (`POST /uploads`, `GET /images`, `GET /images/{key+}`, `DELETE /images/{key+}`), each { rate_limit 1-10000, burst_limit 1-5000 }. Uploads are held to 10 per second, burst 20, unless this names `POST /uploads`: other routes' limits add to that one."
  type = map(object({
    rate_limit  = number
    burst_limit = number
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for route in keys(var.route_throttling) : contains(["POST /uploads", "GET /images", "GET /images/{key+}", "DELETE /images/{key+}"], route)])
    error_message = "route_throttling keys must be routes of the API: POST /uploads, GET /images, GET /images/{key+}, DELETE /images/{key+}."
  }

  validation {
    condition     = alltrue([for limits in values(var.route_throttling) : limits.rate_limit >= 1 && limits.rate_limit <= 10000 && floor(limits.burst_limit) == limits.burst_limit && limits.burst_limit >= 1 && limits.burst_limit <= 5000])
    error_message = "route_throttling rate_limit must be between 1 and 10000 and burst_limit a whole number between 1 and 5000, as for the stage."
  }
}

variable "cors_allowed_origins" {
  description = "Origins (https://app.example.com) allowed to call the API and to upload to the source bucket from a browser, besides the web page's own. `*` only without cors_allow_credentials."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : origin == "*" || can(regex("^https?://[^/]+$", origin))])
    error_message = "cors_allowed_origins must be origins (scheme://host[:port], no path) or *."
  }

  # A browser sends its Origin serialised: scheme and host in lowercase, no default port. CORS
  # compares the strings, so https://App.example.com or https://app.example.com:443 would never
  # match and every request from that page would be refused.
  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : origin == "*" || (lower(origin) == origin && !can(regex("^(https://[^/]+:443|http://[^/]+:80)$", origin)))])
    error_message = "cors_allowed_origins must be written as browsers send an Origin, in lowercase and without the scheme's default port (https://app.example.com, not https://App.example.com or https://app.example.com:443): ${jsonencode([for origin in var.cors_allowed_origins : origin if origin != "*" && (lower(origin) != origin || can(regex("^(https://[^/]+:443|http://[^/]+:80)$", origin)))])} would never match."
  }
}

variable "cors_allow_credentials" {
  description = "Let browsers send cookies and credentials with cross-origin requests. The API reads bearer tokens, not cookies: leave false unless a client needs it."
  type        = bool
  default     = false
  nullable    = false
}

variable "domain_name" {
  description = "Custom domain of the API (api.example.com), or null for the execute-api endpoint. Needs certificate_arn."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lowercase host name such as api.example.com."
  }
}

variable "certificate_arn" {
  description = "ACM certificate (in the API's region) for domain_name."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be null or an ACM certificate ARN."
  }

  validation {
    condition     = (var.domain_name == null) == (var.certificate_arn == null)
    error_message = "domain_name and certificate_arn go together: a custom domain needs its ACM certificate, and a certificate is only for a custom domain."
  }
}

################################################################################
# The web page
################################################################################

variable "web_dir" {
  description = "Folder holding the built web page (index.html, app.js, style.css: `npm run build:web` writes them to dist-web/). Null: no page, bucket or distribution."
  type        = string
  default     = null

  validation {
    condition     = var.web_dir == null || try(fileexists("${var.web_dir}/index.html"), false)
    error_message = "web_dir must be a folder holding the built page (index.html): run `npm run build:web`."
  }
}

variable "failed_is_final" {
  description = "Whether a failed upload is final, as in the workflow mode (its state machine retried it before recording the failure): the web page then stops following it and shows the failure. False (the direct mode): Lambda retries a failed event, and the page keeps looking."
  type        = bool
  default     = false
  nullable    = false
}

variable "web_auth" {
  description = "Sign-in endpoints the page uses with jwt_issuer ({ authorize_url, token_url, client_id, scope }); the user pool's are used when it is created."
  type = object({
    authorize_url = string
    token_url     = string
    client_id     = string
    scope         = string
  })
  default = null

  validation {
    condition     = var.web_auth == null || (can(regex("^https://", var.web_auth.authorize_url)) && can(regex("^https://", var.web_auth.token_url)))
    error_message = "web_auth.authorize_url and token_url must be https:// URLs."
  }
}

variable "web_price_class" {
  description = "CloudFront price class of the page's distribution."
  type        = string
  default     = "PriceClass_100"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.web_price_class)
    error_message = "web_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the page bucket with its objects."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Alarms
################################################################################

variable "alarm_5xx_threshold" {
  description = "5xx answers in 5 minutes that raise the 5xx alarm, 1-100000."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.alarm_5xx_threshold >= 1 && var.alarm_5xx_threshold <= 100000
    error_message = "alarm_5xx_threshold must be between 1 and 100000."
  }
}

variable "alarm_4xx_rate_threshold" {
  description = "Share of 4xx answers (0-1) over 15 minutes that raises the 4xx alarm (clients failing, a broken page, an attack)."
  type        = number
  default     = 0.25
  nullable    = false

  validation {
    condition     = var.alarm_4xx_rate_threshold > 0 && var.alarm_4xx_rate_threshold <= 1
    error_message = "alarm_4xx_rate_threshold must be a share between 0 and 1."
  }
}

variable "alarm_latency_p99_ms" {
  description = "p99 latency in milliseconds over 5 minutes that raises the latency alarm, 50-30000."
  type        = number
  default     = 2000
  nullable    = false

  validation {
    condition     = var.alarm_latency_p99_ms >= 50 && var.alarm_latency_p99_ms <= 30000
    error_message = "alarm_latency_p99_ms must be between 50 and 30000 (API Gateway gives up after 30 s)."
  }
}

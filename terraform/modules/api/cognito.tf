# An optional user pool: hosted sign-in, a public client for the web page (authorization code with
# PKCE; no secret, since a page cannot keep one), and the admin group.
resource "aws_cognito_user_pool" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  name                     = "${var.name}-users"
  auto_verified_attributes = ["email"]
  username_attributes      = ["email"]
  deletion_protection      = var.force_destroy ? "INACTIVE" : "ACTIVE"
  tags                     = var.tags

  password_policy {
    minimum_length    = 12
    require_lowercase = true
    require_uppercase = true
    require_numbers   = true
    require_symbols   = false
  }

  admin_create_user_config {
    allow_admin_create_user_only = true
  }
}

resource "aws_cognito_user_pool_domain" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  domain       = coalesce(var.cognito_domain_prefix, "${var.name}-${local.account_id}")
  user_pool_id = aws_cognito_user_pool.this[0].id
}

resource "aws_cognito_user_pool_client" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  name                                 = "${var.name}-web"
  user_pool_id                         = aws_cognito_user_pool.this[0].id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = concat(local.web_enabled ? ["${local.web_origin}/"] : [], [for origin in var.cors_allowed_origins : "${origin}/" if origin != "*"])
  logout_urls                          = concat(local.web_enabled ? ["${local.web_origin}/"] : [], [for origin in var.cors_allowed_origins : "${origin}/" if origin != "*"])
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  access_token_validity                = 1
  id_token_validity                    = 1
  refresh_token_validity               = 30

  token_validity_units {
    access_token  = "hours"
    id_token      = "hours"
    refresh_token = "days"
  }
}

resource "aws_cognito_user_group" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  name         = var.admin_group
  user_pool_id = aws_cognito_user_pool.this[0].id
  description  = "May list, read and delete every image through the imgpipe API."
}

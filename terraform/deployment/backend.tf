# Partial configuration: everything that differs by environment or account is given at init.
#   -backend-config=../envs/<environment>/backend.s3.tfbackend   key, encrypt, use_lockfile
#   -backend-config=bucket=imgpipe-tfstate-<account id>-<region> -backend-config=region=<region>
# Each environment is initialised in its own data directory (TF_DATA_DIR=.terraform-<environment>),
# so switching environments never reuses another one's backend: see ../README.md.
terraform {
  backend "s3" {}
}

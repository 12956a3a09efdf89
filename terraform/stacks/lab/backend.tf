# obsctl passes the state path per environment at init:
#   -backend-config=path=.obsctl/<env>/terraform.tfstate
terraform {
  backend "local" {}
}

"""Applies the AWS::Serverless transform to a template, as CloudFormation
does on deploy, with the SAM translator (pip package aws-sam-translator):
sam_transform.py TEMPLATE PARAMETERS_JSON prints the transformed template
as JSON. Local CodeUri folders become S3 URIs first, as `sam deploy`
uploads them. No AWS call: the template names no managed policy to look
up."""
import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The policy loader, asked only for managed policies named in
    Policies; the template names none."""

    def load(self):
        return {}


def main():
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    params = json.loads(sys.argv[2])
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and not str(props.get("CodeUri", "s3://")).startswith("s3://"):
            props["CodeUri"] = "s3://sam-deploy-bucket/" + name + ".zip"
    out = transform(template, params, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()

# Written by cargo xtask lambda-deploy --env local: loaded into the rehearsal's moto server
# (through PYTHONPATH) before it serves a request.
#
# moto's CloudFormation creates only some resource types, and some of those without the
# properties the SAM transform writes. What it lacks here it would otherwise drop without a
# word, and a reference to it (a permission on an alias, a deployment of an API defined by
# its Body) would then break the stack for a reason that is moto's, not the app's. Each gap
# below is filled the way AWS fills it, with moto's own service backends, so the rehearsal's
# stack holds these resources and the aws CLI can read them back. Nothing here runs unless
# moto lacks the type or the property; a moto without the backends named skips the gap.

import base64
import json
import os
import sys


def _log(message):
    sys.stderr.write("xtask moto gaps: %s\n" % message)


_installed = []


def _install():
    from moto.core.common_models import CloudFormationModel
    import moto.cloudformation.parsing  # noqa: F401 (imports every model moto has)
    from moto.moto_api._internal import mock_random

    supported = {m.cloudformation_type() for m in CloudFormationModel.__subclasses__()}

    # What the rehearsal names after the deploy: one JSON object a line (see moto.rs).
    standins_log = os.environ.get("XTASK_MOTO_STANDINS")

    def list_stand_in(entry):
        if standins_log:
            with open(standins_log, "a") as log:
                log.write(json.dumps(entry) + "\n")

    # Each value a stand-in gave for a Ref or GetAtt, with the resource that gave it: a
    # resource built from one is built from nothing real.
    stand_in_values = {}

    def arn_region_account(arn):
        parts = arn.split(":")
        return parts[3], parts[4]

    # A direct subclass of CloudFormationModel is what moto's parser finds. Each gap is a
    # factory, called only when moto has no model of that type: a class defined is a class
    # registered, and the parser would let it shadow moto's own.
    factories = []

    def gap(resource_type):
        def register(factory):
            if resource_type not in supported:
                factories.append(factory)
            return factory

        return register

    # --- API Gateway (REST): the transform defines the API by its Body, with no Name -----
    from moto.apigateway.models import RestAPI, apigateway_backends

    def rest_api_paths(body):
        """The Body's paths as moto's importer reads them (OpenAPI 3 keys, ANY for SAM's
        any-method key, no path-level parameters)."""
        methods = {"get", "put", "post", "delete", "options", "head", "patch", "any"}
        paths = {}
        for path, item in (body.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            operations = {}
            for key, operation in item.items():
                key = "any" if key == "x-amazon-apigateway-any-method" else key.lower()
                if key in methods and isinstance(operation, dict):
                    integration = operation.get("x-amazon-apigateway-integration")
                    if isinstance(integration, dict):
                        # A mock integration (CORS preflight) has neither; moto needs both.
                        integration.setdefault("uri", "")
                        integration.setdefault("httpMethod", key.upper())
                    operations[key] = operation
            paths[path] = operations
        return paths

    def body_of(properties, account_id):
        body = properties.get("Body")
        location = properties.get("BodyS3Location")
        if body is None and isinstance(location, dict):
            from moto.s3.models import s3_backends

            key = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
            text = key.value.decode("utf-8")
            try:
                body = json.loads(text)
            except ValueError:
                import yaml

                body = yaml.safe_load(text)
        if isinstance(body, str):
            body = json.loads(body)
        return body if isinstance(body, dict) else None

    original_rest_api = RestAPI.create_from_cloudformation_json.__func__

    def create_rest_api(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        body = body_of(properties, account_id)
        if "Name" not in properties:
            title = (body or {}).get("info", {}).get("title")
            properties["Name"] = title or resource_name
        api = original_rest_api(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if body and body.get("paths"):
            document = {"openapi": "3.0.1", "info": body.get("info", {}), "paths": rest_api_paths(body)}
            apigateway_backends[account_id][region_name].put_rest_api(
                api.id, document, fail_on_warnings=False, mode="overwrite"
            )
        return api

    RestAPI.create_from_cloudformation_json = classmethod(create_rest_api)

    @gap("AWS::ApiGateway::Stage")
    def _apigatewaystage():
        class ApiGatewayStage(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.apigateway.xtask_gaps"

            def __init__(self, api_id, name):
                self.api_id, self.name = api_id, name

            @staticmethod
            def cloudformation_name_type():
                return "StageName"

            @staticmethod
            def cloudformation_type():
                return "AWS::ApiGateway::Stage"

            @classmethod
            def has_cfn_attr(cls, attr):
                return False

            @property
            def physical_resource_id(self):
                return self.name

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                api_id, name = p["RestApiId"], p.get("StageName") or resource_name
                apigateway_backends[account_id][region_name].create_stage(
                    api_id,
                    name,
                    p.get("DeploymentId"),
                    variables=p.get("Variables"),
                    description=p.get("Description", ""),
                    tracing_enabled=p.get("TracingEnabled"),
                )
                return cls(api_id, name)
        return ApiGatewayStage

    # An integration run with the caller's own credentials: API Gateway takes the ARN
    # `arn:aws:iam::*:user/*` (what the SAM transform writes for an AWS_IAM authorizer with
    # InvokeRole CALLER_CREDENTIALS, its default); moto refuses any ARN not of its account.
    import inspect
    import re
    from moto.apigateway.models import APIGatewayBackend
    from moto.utilities.utils import get_partition

    caller_credentials = re.compile(r"arn:aws[a-z-]*:iam::\*:user/\*")
    original_put_integration = APIGatewayBackend.put_integration
    put_integration_signature = inspect.signature(original_put_integration)

    def put_integration(self, *args, **kwargs):
        bound = put_integration_signature.bind(self, *args, **kwargs)
        credentials = bound.arguments.get("credentials")
        if not (isinstance(credentials, str) and caller_credentials.fullmatch(credentials)):
            return original_put_integration(*bound.args, **bound.kwargs)
        # moto's own checks run on an ARN of its account; the integration keeps the one given.
        bound.arguments["credentials"] = "arn:%s:iam::%s:user/*" % (get_partition(self.region_name), self.account_id)
        integration = original_put_integration(*bound.args, **bound.kwargs)
        integration.credentials = credentials
        return integration

    APIGatewayBackend.put_integration = put_integration

    # A deployment's Ref is its id (a stage names it as its DeploymentId).
    from moto.apigateway.models import Deployment

    Deployment.physical_resource_id = property(lambda self: self.id)

    # --- Step Functions: the definition as the transform writes it -----------------------
    from moto.stepfunctions.models import StateMachine

    def definition_string(properties, account_id):
        """DefinitionString from Definition (an object) or DefinitionS3Location, with
        DefinitionSubstitutions applied, as CloudFormation does before creating it."""
        text = properties.get("DefinitionString")
        if text is None and "Definition" in properties:
            text = json.dumps(properties["Definition"])
        location = properties.get("DefinitionS3Location")
        if text is None and isinstance(location, dict):
            from moto.s3.models import s3_backends

            text = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"]).value.decode("utf-8")
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${%s}" % key, str(value))
        return text

    def set_definition(cloudformation_json, account_id):
        properties = cloudformation_json.get("Properties", {})
        text = definition_string(properties, account_id)
        if text is not None:
            properties["DefinitionString"] = text

    original_create_machine = StateMachine.create_from_cloudformation_json.__func__
    original_update_machine = StateMachine.update_from_cloudformation_json.__func__

    def create_machine(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        set_definition(cloudformation_json, account_id)
        return original_create_machine(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    def update_machine(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        set_definition(cloudformation_json, account_id)
        return original_update_machine(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )

    StateMachine.create_from_cloudformation_json = classmethod(create_machine)
    StateMachine.update_from_cloudformation_json = classmethod(update_machine)

    # --- Lambda: versions with a Ref and a Version attribute, and aliases ----------------
    from moto.awslambda.models import LambdaVersion, lambda_backends

    original_version = LambdaVersion.create_from_cloudformation_json.__func__

    def create_version(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        version = original_version(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        function = lambda_backends[account_id][region_name].get_function(
            cloudformation_json["Properties"]["FunctionName"]
        )
        version.function_arn = function.function_arn
        return version

    def version_attribute(self, name):
        if name == "Version":
            return str(self.version)
        if name == "FunctionArn":
            return self.function_arn
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    LambdaVersion.create_from_cloudformation_json = classmethod(create_version)
    LambdaVersion.physical_resource_id = property(lambda self: "%s:%s" % (self.function_arn, self.version))
    LambdaVersion.get_cfn_attribute = version_attribute
    LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Version", "FunctionArn"))

    # moto's CloudFormation passes a function's Code, Handler, Role, Runtime and a few
    # settings on, and drops the rest: what the rehearsal compares with the build is set here.
    from moto.awslambda.models import LambdaFunction

    original_function = LambdaFunction.create_from_cloudformation_json.__func__

    def create_function(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        function = original_function(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        p = cloudformation_json["Properties"]
        if "Architectures" in p:
            function.architectures = list(p["Architectures"])
        if "Layers" in p:
            function.layers = function._get_layers_data(list(p["Layers"]))
        if "PackageType" in p:
            function.package_type = p["PackageType"]
        if "TracingConfig" in p:
            function.tracing_config = p["TracingConfig"]
        if isinstance(p.get("EphemeralStorage"), dict):
            function.ephemeral_storage = p["EphemeralStorage"].get("Size", function.ephemeral_storage)
        return function

    LambdaFunction.create_from_cloudformation_json = classmethod(create_function)

    # A layer version's Ref is its ARN (a function's Layers name it so).
    from moto.awslambda.models import LayerVersion

    LayerVersion.physical_resource_id = property(lambda self: self.arn)

    # A layer published elsewhere (by ARN) is not in the local AWS; Lambda takes it as named.
    def layers_data(self, arns):
        backend = lambda_backends[self.account_id][self.region]
        data = []
        for arn in arns:
            known = backend.layers_versions_by_arn(arn)
            data.append({"Arn": known.arn, "CodeSize": known.code_size} if known else {"Arn": arn, "CodeSize": 0})
        return data

    LambdaFunction._get_layers_data = layers_data

    @gap("AWS::Lambda::Alias")
    def _lambdaaliasresource():
        class LambdaAliasResource(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.awslambda.xtask_gaps"

            def __init__(self, arn, name):
                self.arn, self.name = arn, name

            @staticmethod
            def cloudformation_name_type():
                return "Name"

            @staticmethod
            def cloudformation_type():
                return "AWS::Lambda::Alias"

            @classmethod
            def has_cfn_attr(cls, attr):
                return attr == "AliasArn"

            def get_cfn_attribute(self, attribute_name):
                return self.arn

            @property
            def physical_resource_id(self):
                return self.arn

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                backend = lambda_backends[account_id][region_name]
                function = backend.get_function(p["FunctionName"])
                alias = backend.create_alias(
                    name=p["Name"],
                    function_name=function.function_name,
                    function_version=str(p["FunctionVersion"]),
                    description=p.get("Description", ""),
                    routing_config=p.get("RoutingConfig"),
                )
                return cls(alias.arn, alias.name)
        return LambdaAliasResource

    @gap("AWS::Lambda::Url")
    def _lambdaurl():
        class LambdaUrl(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.awslambda.xtask_gaps"

            def __init__(self, function_arn, url):
                self.function_arn, self.url = function_arn, url

            @staticmethod
            def cloudformation_name_type():
                return ""

            @staticmethod
            def cloudformation_type():
                return "AWS::Lambda::Url"

            @classmethod
            def has_cfn_attr(cls, attr):
                return attr in ("FunctionArn", "FunctionUrl")

            def get_cfn_attribute(self, attribute_name):
                return self.url if attribute_name == "FunctionUrl" else self.function_arn

            @property
            def physical_resource_id(self):
                return self.function_arn

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = dict(cloudformation_json["Properties"])
                backend = lambda_backends[account_id][region_name]
                target = p.pop("TargetFunctionArn")
                function = backend.get_function(target.split(":function:")[-1].split(":")[0])
                config = backend.create_function_url_config(function.function_arn, p)
                return cls(function.function_arn, config.url)
        return LambdaUrl

    # A layer whose content a stand-in names (the bucket and key a custom resource would
    # write, which moto does not run) or whose bucket the local AWS does not have (one outside
    # the stack): there is nothing to read, so it is created empty and listed as a stand-in.
    original_layer = LayerVersion.create_from_cloudformation_json.__func__
    empty_zip = base64.b64encode(b"PK\x05\x06" + b"\x00" * 18).decode("ascii")

    def layer_content_missing(content, account_id, region_name):
        """Why the content cannot be read from the local AWS, or None when it can be."""
        bucket, key = content.get("S3Bucket"), content.get("S3Key")
        if "ZipFile" in content or not isinstance(bucket, str) or not isinstance(key, str):
            return None
        makers = []
        for value in (bucket, key):
            maker = stand_in_values.get(value)
            if maker and maker not in makers:
                makers.append(maker)
        if makers:
            named = ", ".join("%s (%s)" % (logical_id, kind) for logical_id, kind in makers)
            return "its Content (S3Bucket, S3Key) comes from %s, which the local AWS did not run" % named
        from moto.s3.exceptions import MissingBucket
        from moto.s3.models import s3_backends

        try:
            s3_backends[account_id][get_partition(region_name)].get_bucket(bucket)
        except MissingBucket:
            return "its Content is in s3://%s, a bucket the local AWS does not have" % bucket
        return None

    def create_layer(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties") or {}
        content = properties.get("Content")
        why = layer_content_missing(content, account_id, region_name) if isinstance(content, dict) else None
        if why is None:
            return original_layer(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        empty = dict(cloudformation_json, Properties=dict(properties, Content={"ZipFile": empty_zip}))
        layer = original_layer(cls, resource_name, empty, account_id, region_name, **kwargs)
        list_stand_in(
            {
                "logical_id": kwargs.get("LogicalId"),
                "type": "AWS::Lambda::LayerVersion",
                "stand_in": "%s: the layer was created empty, so the rehearsal proves nothing about its content" % why,
            }
        )
        return layer

    LayerVersion.create_from_cloudformation_json = classmethod(create_layer)

    # --- SSM: a document as CloudFormation creates it --------------------------------------
    # DocumentFormat defaults to JSON, and Content (an object in the template) is sent in that
    # format; moto passes neither on ("Invalid document format None").
    from moto.ssm.models import Document

    original_document = Document.create_from_cloudformation_json.__func__

    def create_document(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = dict(cloudformation_json.get("Properties") or {})
        document_format = properties.get("DocumentFormat") or "JSON"
        properties["DocumentFormat"] = document_format
        content = properties.get("Content")
        if isinstance(content, (dict, list)):
            if document_format == "YAML":
                import yaml

                properties["Content"] = yaml.safe_dump(content, sort_keys=False)
            else:
                properties["Content"] = json.dumps(content)
        filled = dict(cloudformation_json, Properties=properties)
        return original_document(cls, resource_name, filled, account_id, region_name, **kwargs)

    Document.create_from_cloudformation_json = classmethod(create_document)

    # --- CloudFormation: a resource after what it DependsOn -------------------------------
    # moto creates a resource when it is first named (a Ref or GetAtt creates its target on
    # the spot), and orders by DependsOn only the top level of a new stack: a change set (what
    # sam deploy executes) creates in template order, and a resource created on the spot skips
    # its own DependsOn. So a resource's DependsOn are created first, wherever it is created.
    from moto.cloudformation.parsing import ResourceMap

    original_resource = ResourceMap.__getitem__

    def resource_after_dependencies(self, key):
        parsed = self._parsed_resources
        resource_json = self._resource_json_map.get(key) if key not in parsed else None
        if isinstance(resource_json, dict) and resource_json.get("DependsOn"):
            creating = self.__dict__.setdefault("_xtask_creating", set())
            if key not in creating:
                creating.add(key)
                try:
                    depends_on = resource_json["DependsOn"]
                    for name in [depends_on] if isinstance(depends_on, str) else depends_on:
                        if name in self._resource_json_map and name not in parsed and name not in creating:
                            self[name]
                finally:
                    creating.discard(key)
        return original_resource(self, key)

    ResourceMap.__getitem__ = resource_after_dependencies

    # --- SNS and SQS: subscriptions and policies as resources of their own ---------------
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    @gap("AWS::SNS::Subscription")
    def _snssubscription():
        class SnsSubscription(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.sns.xtask_gaps"

            def __init__(self, arn):
                self.arn = arn

            @staticmethod
            def cloudformation_name_type():
                return ""

            @staticmethod
            def cloudformation_type():
                return "AWS::SNS::Subscription"

            @classmethod
            def has_cfn_attr(cls, attr):
                return attr == "Arn"

            def get_cfn_attribute(self, attribute_name):
                return self.arn

            @property
            def physical_resource_id(self):
                return self.arn

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                region, account = arn_region_account(p["TopicArn"])
                backend = sns_backends[account][region]
                subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
                for name in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"):
                    if name in p:
                        value = p[name]
                        value = json.dumps(value) if isinstance(value, (dict, list)) else str(value).lower() if isinstance(value, bool) else value
                        backend.set_subscription_attributes(subscription.arn, name, value)
                return cls(subscription.arn)
        return SnsSubscription

    @gap("AWS::SNS::TopicPolicy")
    def _snstopicpolicy():
        class SnsTopicPolicy(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.sns.xtask_gaps"

            def __init__(self, name):
                self.name = name

            @staticmethod
            def cloudformation_name_type():
                return ""

            @staticmethod
            def cloudformation_type():
                return "AWS::SNS::TopicPolicy"

            @classmethod
            def has_cfn_attr(cls, attr):
                return False

            @property
            def physical_resource_id(self):
                return self.name

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                for topic_arn in p.get("Topics", []):
                    region, account = arn_region_account(topic_arn)
                    sns_backends[account][region].set_topic_attribute(topic_arn, "Policy", json.dumps(p["PolicyDocument"]))
                return cls("%s-%s" % (resource_name, mock_random.get_random_hex(8)))
        return SnsTopicPolicy

    @gap("AWS::SQS::QueuePolicy")
    def _sqsqueuepolicy():
        class SqsQueuePolicy(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.sqs.xtask_gaps"

            def __init__(self, name):
                self.name = name

            @staticmethod
            def cloudformation_name_type():
                return ""

            @staticmethod
            def cloudformation_type():
                return "AWS::SQS::QueuePolicy"

            @classmethod
            def has_cfn_attr(cls, attr):
                return False

            @property
            def physical_resource_id(self):
                return self.name

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                backend = sqs_backends[account_id][region_name]
                for url in p.get("Queues", []):
                    backend.set_queue_attributes(url.rstrip("/").split("/")[-1], {"Policy": json.dumps(p["PolicyDocument"])})
                return cls("%s-%s" % (resource_name, mock_random.get_random_hex(8)))
        return SqsQueuePolicy

    # --- API Gateway v2 (HTTP APIs): the API from its Body, and its stages ---------------
    from moto.apigatewayv2.models import apigatewayv2_backends

    @gap("AWS::ApiGatewayV2::Api")
    def _httpapi():
        class HttpApi(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.apigatewayv2.xtask_gaps"

            def __init__(self, api_id):
                self.api_id = api_id

            @staticmethod
            def cloudformation_name_type():
                return "Name"

            @staticmethod
            def cloudformation_type():
                return "AWS::ApiGatewayV2::Api"

            @classmethod
            def has_cfn_attr(cls, attr):
                return attr in ("ApiId", "ApiEndpoint")

            def get_cfn_attribute(self, attribute_name):
                return self.api_id if attribute_name == "ApiId" else self.endpoint

            @property
            def physical_resource_id(self):
                return self.api_id

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                body = body_of(p, account_id)
                backend = apigatewayv2_backends[account_id][region_name]
                api = backend.create_api(
                    api_key_selection_expression=None,
                    cors_configuration=p.get("CorsConfiguration"),
                    description=p.get("Description") or (body or {}).get("info", {}).get("description"),
                    disable_schema_validation=None,
                    disable_execute_api_endpoint=p.get("DisableExecuteApiEndpoint"),
                    name=p.get("Name") or (body or {}).get("info", {}).get("title") or resource_name,
                    protocol_type=p.get("ProtocolType", "HTTP"),
                    route_selection_expression=p.get("RouteSelectionExpression"),
                    tags=p.get("Tags") or {},
                    version=p.get("Version"),
                )
                if body and body.get("paths"):
                    backend.reimport_api(api.api_id, json.dumps(body), fail_on_warnings=False)
                resource = cls(api.api_id)
                resource.endpoint = api.api_endpoint
                return resource
        return HttpApi

    @gap("AWS::ApiGatewayV2::Stage")
    def _httpapistage():
        class HttpApiStage(CloudFormationModel):
            # moto files each model under the service its module path names.
            __module__ = "moto.apigatewayv2.xtask_gaps"

            def __init__(self, name):
                self.name = name

            @staticmethod
            def cloudformation_name_type():
                return "StageName"

            @staticmethod
            def cloudformation_type():
                return "AWS::ApiGatewayV2::Stage"

            @classmethod
            def has_cfn_attr(cls, attr):
                return False

            @property
            def physical_resource_id(self):
                return self.name

            @classmethod
            def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
                p = cloudformation_json["Properties"]
                backend = apigatewayv2_backends[account_id][region_name]
                config = {"stageName": p.get("StageName") or resource_name, "autoDeploy": p.get("AutoDeploy", False)}
                backend.get_api(p["ApiId"]).create_stage(config)
                return cls(config["stageName"])
        return HttpApiStage

    # --- GetAtt: attributes some models lack (Arn, TopicArn) read from the object --------
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    def attribute_from_object(resource, name):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        for candidate in (snake, name, "arn" if name.endswith("Arn") else None):
            if candidate and isinstance(getattr(resource, candidate, None), str):
                return getattr(resource, candidate)
        if name == "Arn":
            for key, value in sorted(vars(resource).items()):
                if key.endswith("arn") and isinstance(value, str) and value.startswith("arn:"):
                    return value
        raise UnformattedGetAttTemplateException()

    def with_fallback(model):
        own = model.__dict__.get("get_cfn_attribute")

        def get_cfn_attribute(self, attribute_name):
            if own is not None:
                try:
                    return own(self, attribute_name)
                except (UnformattedGetAttTemplateException, NotImplementedError, AttributeError, KeyError):
                    pass
            return attribute_from_object(self, attribute_name)

        model.get_cfn_attribute = get_cfn_attribute
        # Asked before get_cfn_attribute: an attribute the object may hold is not refused
        # up front (the lookup above still fails on one it lacks).
        own_has = model.has_cfn_attr
        model.has_cfn_attr = classmethod(lambda cls, attr: own_has(attr) or attr.endswith("Arn") or attr.endswith("Id"))

    # --- Types moto has no model for, and custom resources (their function would need
    # Docker): a stand-in answers Ref and GetAtt, and is listed for the rehearsal to say so.
    import moto.cloudformation.parsing as parsing

    class StandIn(CloudFormationModel):
        __module__ = "moto.cloudformation.xtask_gaps"

        def __init__(self, name, resource_type, account_id, region_name, logical_id=None):
            self.name, self.resource_type = name, resource_type
            service, kind = (resource_type.split("::") + ["", ""])[1:3]
            self.arn = "arn:aws:%s:%s:%s:%s/%s" % (service.lower(), region_name, account_id, kind.lower(), name)
            maker = (logical_id or name, resource_type)
            for value in (self.name, self.arn):
                stand_in_values[value] = maker

        @staticmethod
        def cloudformation_name_type():
            return ""

        @staticmethod
        def cloudformation_type():
            return "xtask::StandIn"

        @classmethod
        def has_cfn_attr(cls, attr):
            return True

        def get_cfn_attribute(self, attribute_name):
            if attribute_name.endswith("Arn"):
                return self.arn
            value = "%s-%s" % (self.name, attribute_name)
            stand_in_values[value] = stand_in_values[self.name]
            return value

        @property
        def physical_resource_id(self):
            return self.name

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            resource_type = kwargs.get("ResourceType", "")
            entry = {"logical_id": kwargs.get("LogicalId"), "type": resource_type}
            if "Crash" in kwargs:
                entry["moto_error"] = kwargs["Crash"]
            list_stand_in(entry)
            return cls(resource_name, resource_type, account_id, region_name, kwargs.get("LogicalId"))

        @classmethod
        def delete_from_cloudformation_json(cls, *args, **kwargs):
            pass

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
            return original_resource

    def stand_in_on_crash(model):
        """A model that crashes (a KeyError or TypeError inside moto, not an AWS error it
        raises on purpose) is moto's bug: a stand-in takes its place and is listed."""
        own = model.create_from_cloudformation_json.__func__

        def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            try:
                return own(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
            except (KeyError, TypeError, AttributeError, IndexError) as error:
                kwargs["Crash"] = "%s: %s" % (type(error).__name__, error)
                return StandIn.create_from_cloudformation_json(
                    resource_name, cloudformation_json, account_id, region_name, **kwargs
                )

        model.create_from_cloudformation_json = classmethod(create)

    original_class_from_type = parsing.resource_class_from_type

    def resource_class_from_type(resource_type):
        if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
            return StandIn
        model = original_class_from_type(resource_type)
        if model is None and resource_type not in parsing.NULL_MODELS:
            return StandIn
        return model

    parsing.resource_class_from_type = resource_class_from_type
    _installed.append(StandIn)

    _installed.extend(factory() for factory in factories)
    for model in CloudFormationModel.__subclasses__():
        with_fallback(model)
        if model is not StandIn:
            stand_in_on_crash(model)
    return sorted(m.cloudformation_type() for m in _installed if m is not StandIn) + ["stand-ins for the rest", "AWS::ApiGateway::RestApi Body", "AWS::Lambda::Version Ref", "AWS::Lambda::Function Architectures/Layers", "AWS::Lambda::LayerVersion Ref", "AWS::StepFunctions::StateMachine Definition*", "AWS::ApiGateway caller credentials", "AWS::Lambda::LayerVersion unreadable content", "AWS::SSM::Document DocumentFormat", "DependsOn order"]


try:
    _filled = _install()
    _log("filled: %s" % ", ".join(_filled))
    # The rehearsal compares a function's architectures and layers only when moto keeps them.
    _marker = os.environ.get("XTASK_MOTO_GAPS_FILLED")
    if _marker:
        with open(_marker, "w") as _file:
            json.dump(_filled, _file)
except Exception as error:  # a moto whose internals differ: the rehearsal runs on plain moto
    _log("not installed (%s: %s)" % (type(error).__name__, error))

# The interpreter's own sitecustomize, if it has one, still runs.
_here = __file__.rsplit("/", 1)[0]
_path = [p for p in sys.path if p.rstrip("/") != _here.rstrip("/")]
try:
    import importlib.machinery
    import importlib.util

    _spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _path)
    if _spec is not None:
        _spec.name = "_xtask_chained_sitecustomize"
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
except Exception as error:
    _log("the interpreter's own sitecustomize failed: %s" % error)

//! The synthetic events of the smoke test, one per event source SAM knows, shaped like what
//! Lambda delivers (the fields handlers commonly read are all there), so a handler can be
//! invoked the way its first event source will invoke it.

use serde_json::{json, Value};

use crate::project::template::EventSource;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";

/// The event for a function's first event source, with how output names it; `None` when SAM's
/// event type has no synthetic event here (the smoke test then only imports).
pub fn for_source(source: &EventSource, path_override: Option<&str>) -> Option<SyntheticEvent> {
    let method = source.method.as_deref().filter(|m| !m.eq_ignore_ascii_case("any")).unwrap_or("GET").to_uppercase();
    let path = path_override.map(str::to_string).unwrap_or_else(|| request_path(source.path.as_deref().unwrap_or("/")));
    let (description, event, api) = match source.kind.as_str() {
        "Api" => {
            (format!("API Gateway REST (v1) {method} {path}"), rest_api(&method, &path, source.path.as_deref()), true)
        }
        "HttpApi" => (format!("API Gateway HTTP API (v2) {method} {path}"), http_api(&method, &path), true),
        "SQS" => ("an SQS message".to_string(), sqs(), false),
        "SNS" => ("an SNS notification".to_string(), sns(), false),
        "S3" => ("an S3 ObjectCreated:Put".to_string(), s3(), false),
        "Schedule" | "ScheduleV2" => {
            ("a scheduled EventBridge event".to_string(), eventbridge("Scheduled Event", "aws.events"), false)
        }
        "EventBridgeRule" | "CloudWatchEvent" => {
            ("an EventBridge event".to_string(), eventbridge("Smoke Test", "xtask.smoke-test"), false)
        }
        "DynamoDB" => ("a DynamoDB stream INSERT".to_string(), dynamodb(), false),
        "Kinesis" => ("a Kinesis record".to_string(), kinesis(), false),
        _ => return None,
    };
    Some(SyntheticEvent { description, event, api })
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticEvent {
    /// e.g. `API Gateway REST (v1) GET /hello`.
    pub description: String,
    pub event: Value,
    /// An API Gateway proxy event: the response's statusCode is checked.
    pub api: bool,
}

/// A concrete path for a route: `{id}` and `{proxy+}` filled with a plain value.
pub fn request_path(route: &str) -> String {
    let filled: Vec<String> =
        route
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') {
                    "smoke".to_string()
                } else {
                    segment.to_string()
                }
            })
            .collect();
    let path = filled.join("/");
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

fn path_parameters(route: Option<&str>, path: &str) -> Value {
    let Some(route) = route else { return Value::Null };
    let mut params = serde_json::Map::new();
    for (segment, actual) in route.split('/').zip(path.split('/')) {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.insert(name.trim_end_matches('+').to_string(), json!(actual));
        }
    }
    if params.is_empty() {
        Value::Null
    } else {
        Value::Object(params)
    }
}

/// A REST API (payload v1) proxy event for `method path`.
pub fn rest_api(method: &str, path: &str, route: Option<&str>) -> Value {
    let resource = route.unwrap_or(path);
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "smoke.execute-api.us-east-1.amazonaws.com", "Accept": "application/json"},
        "multiValueHeaders": {"Host": ["smoke.execute-api.us-east-1.amazonaws.com"], "Accept": ["application/json"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": path_parameters(route, path),
        "stageVariables": null,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": format!("/Prod{path}"),
            "stage": "Prod",
            "accountId": ACCOUNT,
            "requestId": "xtask-smoke-test",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "lambda-xtask smoke test"}
        },
        "body": null,
        "isBase64Encoded": false
    })
}

fn http_api(method: &str, path: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "smoke.execute-api.us-east-1.amazonaws.com", "accept": "application/json"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "smoke",
            "domainName": "smoke.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "smoke",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "lambda-xtask smoke test"},
            "requestId": "xtask-smoke-test",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "isBase64Encoded": false
    })
}

fn sqs() -> Value {
    json!({"Records": [{
        "messageId": "xtask-smoke-test",
        "receiptHandle": "xtask-smoke-test",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000", "SenderId": ACCOUNT, "ApproximateFirstReceiveTimestamp": "1767225600000"},
        "messageAttributes": {},
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:smoke-test"),
        "awsRegion": REGION
    }]})
}

fn sns() -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:smoke-test:xtask"),
        "Sns": {
            "Type": "Notification",
            "MessageId": "xtask-smoke-test",
            "TopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:smoke-test"),
            "Subject": "smoke test",
            "Message": "{}",
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "MessageAttributes": {}
        }
    }]})
}

fn s3() -> Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "xtask-smoke-test",
            "bucket": {"name": "smoke-test-bucket", "arn": "arn:aws:s3:::smoke-test-bucket", "ownerIdentity": {"principalId": "XTASK"}},
            "object": {"key": "smoke/test.json", "size": 2, "eTag": "99914b932bd37a50b983c5e7c90ae93b", "sequencer": "0A1B2C3D4E5F678901"}
        }
    }]})
}

fn eventbridge(detail_type: &str, source: &str) -> Value {
    json!({
        "version": "0",
        "id": "xtask-smoke-test",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/smoke-test")],
        "detail": {}
    })
}

fn dynamodb() -> Value {
    json!({"Records": [{
        "eventID": "xtask-smoke-test",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600,
            "Keys": {"id": {"S": "smoke"}},
            "NewImage": {"id": {"S": "smoke"}},
            "SequenceNumber": "111",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/smoke-test/stream/2026-01-01T00:00:00.000")
    }]})
}

fn kinesis() -> Value {
    json!({"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "smoke",
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            // base64 of "{}"
            "data": "e30=",
            "approximateArrivalTimestamp": 1767225600.0
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000000:xtask-smoke-test",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": format!("arn:aws:iam::{ACCOUNT}:role/smoke-test"),
        "awsRegion": REGION,
        "eventSourceARN": format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/smoke-test")
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: &str, path: Option<&str>, method: Option<&str>) -> EventSource {
        EventSource { name: "E".into(), kind: kind.into(), path: path.map(Into::into), method: method.map(Into::into) }
    }

    #[test]
    fn each_source_gets_its_own_shape() {
        let rest = for_source(&source("Api", Some("/hello"), Some("get")), None).unwrap();
        assert!(rest.api);
        assert_eq!(rest.event["httpMethod"], "GET");
        assert_eq!(rest.event["path"], "/hello");
        assert_eq!(rest.description, "API Gateway REST (v1) GET /hello");
        let http = for_source(&source("HttpApi", Some("/items/{id}"), Some("POST")), None).unwrap();
        assert_eq!(http.event["version"], "2.0");
        assert_eq!(http.event["requestContext"]["http"]["method"], "POST");
        assert_eq!(http.event["rawPath"], "/items/smoke");
        for (kind, field) in
            [("SQS", "aws:sqs"), ("S3", "aws:s3"), ("DynamoDB", "aws:dynamodb"), ("Kinesis", "aws:kinesis")]
        {
            let event = for_source(&source(kind, None, None), None).unwrap();
            assert!(!event.api);
            assert_eq!(event.event["Records"][0]["eventSource"], field, "{kind}");
        }
        assert_eq!(for_source(&source("SNS", None, None), None).unwrap().event["Records"][0]["EventSource"], "aws:sns");
        assert_eq!(for_source(&source("Schedule", None, None), None).unwrap().event["detail-type"], "Scheduled Event");
        assert_eq!(for_source(&source("CloudWatchLogs", None, None), None), None);
    }

    #[test]
    fn route_parameters_are_filled() {
        assert_eq!(request_path("/{proxy+}"), "/smoke");
        assert_eq!(request_path("/users/{id}/orders"), "/users/smoke/orders");
        let event = rest_api("GET", "/users/smoke", Some("/users/{id}"));
        assert_eq!(event["pathParameters"]["id"], "smoke");
        assert_eq!(event["resource"], "/users/{id}");
        let proxy = for_source(&source("Api", Some("/{proxy+}"), Some("ANY")), Some("/health")).unwrap();
        assert_eq!(proxy.event["path"], "/health");
        assert_eq!(proxy.event["pathParameters"]["proxy"], "health");
    }
}

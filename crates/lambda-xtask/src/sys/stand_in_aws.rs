//! A stand-in AWS for the smoke test: a local HTTP endpoint (`AWS_ENDPOINT_URL`) that records
//! every call an SDK makes (its service and operation) and answers each with an error in the
//! call's own protocol, so the SDK raises an ordinary `ClientError` a handler can catch. No
//! call leaves the machine, and no credential is needed: the handler gets dummy ones.
//!
//! The service comes from the SigV4 credential scope every signed request carries
//! (`Credential=AKID/20260101/us-east-1/dynamodb/aws4_request`); the operation from the
//! `X-Amz-Target` header (JSON protocols), the `Action` parameter (query protocols), the
//! `/operation/` path of the RPC v2 CBOR protocol, or else the method and path (REST).
//!
//! Hand-written over `std::net`: a request line, headers and a small body are all it reads,
//! one request per connection (`Connection: close`); an HTTP server crate would add a
//! dependency tree for a server that only ever answers one error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// One call the stand-in answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCall {
    /// The signing name, e.g. `dynamodb`, `s3`, `sqs`.
    pub service: String,
    /// e.g. `GetItem`, or `GET /bucket/key` for a REST call.
    pub operation: String,
}

impl std::fmt::Display for AwsCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.service, self.operation)
    }
}

/// `dynamodb GetItem, s3 GET /bucket/key`, each distinct call once, in order.
pub fn describe_calls(calls: &[AwsCall]) -> String {
    let mut distinct: Vec<String> = Vec::new();
    for call in calls {
        let text = call.to_string();
        if !distinct.contains(&text) {
            distinct.push(text);
        }
    }
    distinct.join(", ")
}

/// The error code every answer carries.
pub const ERROR_CODE: &str = "XtaskSmokeTestNoAws";
const ERROR_MESSAGE: &str =
    "lambda-xtask smoke test: no AWS behind this endpoint, every call is answered with this error";

/// Headers beyond this are not a request an SDK sends.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// A body is read (for a query protocol's `Action=`) up to this; beyond it only drained.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

pub struct StandInAws {
    port: u16,
    calls: Arc<Mutex<Vec<AwsCall>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl StandInAws {
    /// Listens on a free loopback port. Nothing outside this machine can reach it.
    pub fn start() -> Result<StandInAws> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("opening a loopback port for the stand-in AWS")?;
        let port = listener.local_addr()?.port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (calls, stop) = (Arc::clone(&calls), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("stand-in-aws".into())
                .spawn(move || accept_loop(&listener, &calls, &stop))
                .context("starting the stand-in AWS")?
        };
        Ok(StandInAws { port, calls, stop, acceptor: Some(acceptor) })
    }

    /// For `AWS_ENDPOINT_URL`. An IP, not `localhost`: botocore then addresses S3 buckets by
    /// path instead of by a `bucket.localhost` host name that may not resolve.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The calls recorded since the last take, oldest first.
    pub fn take_calls(&self) -> Vec<AwsCall> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for StandInAws {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, calls: &Arc<Mutex<Vec<AwsCall>>>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let calls = Arc::clone(calls);
        // One thread per connection: a handler may hold several connections open at once.
        let _ = std::thread::Builder::new().name("stand-in-aws-call".into()).spawn(move || answer(stream, &calls));
    }
}

/// What an SDK request says about itself.
#[derive(Debug, Default)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one request, records it, then answers it (recorded first: once the SDK has its
/// answer, the call is in the record). `None` for what is not an HTTP request.
fn answer(stream: TcpStream, calls: &Mutex<Vec<AwsCall>>) -> Option<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let request = read_request(&mut reader)?;
    let call = identify(&request);
    calls.lock().unwrap_or_else(|p| p.into_inner()).push(call.clone());
    let (status, content_type, body, extra) = error_response(&request, &call);
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: xtask-smoke-test\r\nConnection: close\r\n{extra}\r\n",
        if request.method == "HEAD" { 0 } else { body.len() }
    )
    .into_bytes();
    if request.method != "HEAD" {
        response.extend_from_slice(&body);
    }
    let mut stream = stream;
    stream.write_all(&response).ok()?;
    stream.flush().ok()
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut request = Request::default();
    let mut line = String::new();
    let mut read = 0usize;
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    request.method = parts.next()?.to_string();
    request.target = parts.next()?.to_string();
    loop {
        line.clear();
        read += reader.read_line(&mut line).ok()?;
        if read > MAX_HEADER_BYTES {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            request.headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    // With `Expect: 100-continue` the body waits for a go-ahead that never comes: the error
    // answers the request without it.
    let expects_continue = request.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let length: u64 = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if length > 0 && !expects_continue {
        let mut body = Vec::new();
        reader.take(length.min(MAX_BODY_BYTES)).read_to_end(&mut body).ok()?;
        if length > MAX_BODY_BYTES {
            std::io::copy(&mut reader.take(length - MAX_BODY_BYTES), &mut std::io::sink()).ok()?;
        }
        request.body = body;
    }
    Some(request)
}

fn identify(request: &Request) -> AwsCall {
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let service = request
        .header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
        .map(str::to_string)
        .or_else(|| {
            let credential = query_value(query, "X-Amz-Credential")?;
            credential.split('/').nth(3).map(str::to_string)
        })
        .unwrap_or_else(|| "unknown-service".to_string());
    let body = String::from_utf8_lossy(&request.body);
    let form = request.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let operation = if let Some(target) = request.header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_string()
    } else if let Some((_, operation)) = path.rsplit_once("/operation/") {
        operation.to_string()
    } else if let Some(action) =
        query_value(query, "Action").or_else(|| form.then(|| query_value(&body, "Action")).flatten())
    {
        action
    } else {
        let shown: String = path.chars().take(80).collect();
        format!("{} {shown}", request.method)
    };
    AwsCall { service, operation }
}

/// A parameter of a query string or form body, percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status, content type, body and extra header lines of the error, in the request's protocol.
fn error_response(request: &Request, call: &AwsCall) -> (&'static str, &'static str, Vec<u8>, String) {
    let message = format!("{ERROR_MESSAGE} ({call})");
    let content_type = request.header("content-type").unwrap_or_default();
    if request.header("x-amz-target").is_some() || content_type.starts_with("application/x-amz-json") {
        let body = serde_json::json!({"__type": ERROR_CODE, "message": message}).to_string();
        return ("400 Bad Request", "application/x-amz-json-1.0", body.into_bytes(), String::new());
    }
    if request.target.contains("/operation/") || content_type.starts_with("application/cbor") {
        let body = cbor_error(&message);
        return ("400 Bad Request", "application/cbor", body, "smithy-protocol: rpc-v2-cbor\r\n".to_string());
    }
    if content_type.starts_with("application/x-www-form-urlencoded") || request.target.contains("Action=") {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{ERROR_CODE}</Code><Message>{message}</Message></Error><RequestId>xtask-smoke-test</RequestId></ErrorResponse>"
        );
        return ("400 Bad Request", "text/xml", body.into_bytes(), String::new());
    }
    if content_type.contains("json") {
        let body = serde_json::json!({"message": message}).to_string();
        return (
            "400 Bad Request",
            "application/json",
            body.into_bytes(),
            format!("x-amzn-ErrorType: {ERROR_CODE}\r\n"),
        );
    }
    // REST-XML (S3, CloudFront, Route 53) and anything else: the S3 error shape, which
    // botocore's REST parsers all read.
    let body = format!(
        "<Error><Code>{ERROR_CODE}</Code><Message>{message}</Message><RequestId>xtask-smoke-test</RequestId></Error>"
    );
    ("400 Bad Request", "application/xml", body.into_bytes(), format!("x-amzn-ErrorType: {ERROR_CODE}\r\n"))
}

/// `{"__type": ERROR_CODE, "message": message}` in CBOR (RFC 8949): a map of two text pairs.
fn cbor_error(message: &str) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, value: &str) {
        let length = value.len();
        match length {
            0..=23 => out.push(0x60 | length as u8),
            24..=255 => out.extend_from_slice(&[0x78, length as u8]),
            _ => {
                out.push(0x79);
                out.extend_from_slice(&(length.min(u16::MAX as usize) as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&value.as_bytes()[..length.min(u16::MAX as usize)]);
    }
    let mut out = vec![0xa2];
    text(&mut out, "__type");
    text(&mut out, ERROR_CODE);
    text(&mut out, "message");
    text(&mut out, message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(aws: &StandInAws, raw: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", aws.port)).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    const AUTH: &str = "Authorization: AWS4-HMAC-SHA256 Credential=ASIAXTASK/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n";

    #[test]
    fn each_protocol_is_recorded_with_its_service_and_operation_and_answered_with_its_error() {
        let aws = StandInAws::start().unwrap();
        let json = send(
            &aws,
            &format!("POST / HTTP/1.1\r\nHost: x\r\n{}X-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{{}}", AUTH.replace("{service}", "dynamodb")),
        );
        assert!(json.starts_with("HTTP/1.1 400") && json.contains("\"__type\":\"XtaskSmokeTestNoAws\""), "{json}");
        let body = "Action=GetCallerIdentity&Version=2011-06-15";
        let query = send(
            &aws,
            &format!("POST / HTTP/1.1\r\n{}Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}", AUTH.replace("{service}", "sts"), body.len()),
        );
        assert!(query.contains("<Code>XtaskSmokeTestNoAws</Code>") && query.contains("<ErrorResponse>"), "{query}");
        let rest =
            send(&aws, &format!("GET /smoke-bucket/a%20key.json HTTP/1.1\r\n{}\r\n", AUTH.replace("{service}", "s3")));
        assert!(rest.contains("<Error><Code>XtaskSmokeTestNoAws</Code>"), "{rest}");
        let cbor = send(
            &aws,
            &format!("POST /service/GraniteServiceVersion20100801/operation/PutMetricData HTTP/1.1\r\n{}Content-Type: application/cbor\r\nContent-Length: 1\r\n\r\n\u{a0}", AUTH.replace("{service}", "monitoring")),
        );
        assert!(cbor.contains("smithy-protocol: rpc-v2-cbor"), "{cbor}");
        let presigned =
            send(&aws, "HEAD /b/k?X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request HTTP/1.1\r\n\r\n");
        assert!(presigned.ends_with("\r\n\r\n"), "a HEAD answer has no body: {presigned}");
        let calls: Vec<String> = aws.take_calls().iter().map(ToString::to_string).collect();
        assert_eq!(
            calls,
            [
                "dynamodb GetItem",
                "sts GetCallerIdentity",
                "s3 GET /smoke-bucket/a%20key.json",
                "monitoring PutMetricData",
                "s3 HEAD /b/k"
            ]
        );
        assert_eq!(aws.take_calls(), [], "taken once");
    }

    #[test]
    fn a_body_the_client_holds_back_for_100_continue_is_not_waited_for() {
        let aws = StandInAws::start().unwrap();
        let answer = send(
            &aws,
            &format!(
                "PUT /b/big HTTP/1.1\r\n{}Expect: 100-continue\r\nContent-Length: 99999999\r\n\r\n",
                AUTH.replace("{service}", "s3")
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert_eq!(describe_calls(&aws.take_calls()), "s3 PUT /b/big");
    }

    #[test]
    fn what_is_not_http_is_not_a_call_and_calls_are_named_once() {
        let aws = StandInAws::start().unwrap();
        drop(TcpStream::connect(("127.0.0.1", aws.port)).unwrap());
        let repeated = vec![
            AwsCall { service: "ssm".into(), operation: "GetParameter".into() },
            AwsCall { service: "ssm".into(), operation: "GetParameter".into() },
            AwsCall { service: "dynamodb".into(), operation: "Query".into() },
        ];
        assert_eq!(describe_calls(&repeated), "ssm GetParameter, dynamodb Query");
        assert_eq!(percent_decode("a%2Fb+c%zz"), "a/b c%zz");
        drop(aws);
    }
}

//! The SAM template keeps its security properties and routes every route of the router:
//! a later edit cannot silently drop encryption, the TLS-only policy, the public access block,
//! least privilege or authorisation.

mod common;
use common::python_json;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maas::server::router;
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

fn template() -> Value {
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml");
    python_json("cfn_template.py", &[template])
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// A value or list of values as a list.
fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

#[test]
fn the_model_bucket_is_encrypted_versioned_private_and_tls_only() {
    let t = template();
    let bucket = &t["Resources"]["ModelBucket"]["Properties"];
    let sse = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"]["SSEAlgorithm"];
    assert!(sse == "aws:kms" || sse == "AES256", "encryption: {sse}");
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let block = &bucket["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key], true, "{key}");
    }
    let policy = &t["Resources"]["ModelBucketPolicy"]["Properties"];
    assert_eq!(policy["Bucket"], json!({"Ref": "ModelBucket"}));
    let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
    let tls = statements
        .iter()
        .find(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("a statement on aws:SecureTransport");
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(tls["Action"], "s3:*");
    let resources = as_list(&tls["Resource"]);
    assert!(
        resources.contains(&&json!({"Fn::GetAtt": ["ModelBucket", "Arn"]})),
        "the bucket: {resources:?}"
    );
    assert!(
        resources.contains(&&json!({"Fn::Sub": "${ModelBucket.Arn}/*"})),
        "its objects: {resources:?}"
    );
}

#[test]
fn the_function_role_is_least_privilege() {
    let t = template();
    let roles = resources_of_type(&t, "AWS::IAM::Role");
    assert_eq!(roles.len(), 1, "one role, the function's");
    let role = &roles[0].1["Properties"];
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "managed policies carry wildcards"
    );
    let function = &t["Resources"]["PredictFunction"]["Properties"];
    assert_eq!(
        function["Role"],
        json!({"Fn::GetAtt": ["PredictFunctionRole", "Arn"]})
    );
    assert!(function.get("Policies").is_none());
    let mut s3_actions = Vec::new();
    for policy in role["Policies"].as_array().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            for action in as_list(&statement["Action"]) {
                let action = action.as_str().unwrap();
                assert!(!action.contains('*'), "wildcard action {action}");
                if action.starts_with("s3:") {
                    s3_actions.push(action.to_string());
                }
            }
            for resource in as_list(&statement["Resource"]) {
                let text = resource.to_string();
                assert_ne!(resource, "*", "wildcard resource");
                if text.contains(":s3:::") {
                    // only objects under the served model's prefix
                    assert!(
                        text.contains("${Bucket}/${ModelsPrefix}/${ModelName}/*"),
                        "{text}"
                    );
                } else {
                    assert!(!text.contains('*'), "wildcard in {text}");
                }
            }
        }
    }
    assert_eq!(s3_actions, ["s3:GetObject"]);
}

#[test]
fn the_function_is_built_by_cargo_lambda_and_scales_to_zero() {
    let t = template();
    let function = &t["Resources"]["PredictFunction"];
    assert_eq!(function["Type"], "AWS::Serverless::Function");
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    let p = &function["Properties"];
    assert_eq!(p["Runtime"], "provided.al2023");
    assert_eq!(p["Handler"], "bootstrap");
    assert!(p.get("ProvisionedConcurrencyConfig").is_none());
    assert!(p["Environment"]["Variables"]["MAAS_MODEL"]
        .to_string()
        .contains("s3://${Bucket}/${ModelsPrefix}/${ModelName}@${ModelAlias}"));
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "arm64");
    assert_eq!(
        t["Resources"]["PredictLogGroup"]["Properties"]["RetentionInDays"],
        json!({"Ref": "LogRetentionDays"})
    );
    for alarm in ["ErrorsAlarm", "ThrottlesAlarm"] {
        assert_eq!(
            t["Resources"][alarm]["Type"], "AWS::CloudWatch::Alarm",
            "{alarm}"
        );
    }
    for output in ["ApiUrl", "FunctionName", "FunctionArn", "BucketName"] {
        assert!(t["Outputs"].get(output).is_some(), "output {output}");
    }
}

/// The routes of `src/server/mod.rs`, as written there.
fn router_paths() -> Vec<(String, String)> {
    let source = include_str!("../src/server/mod.rs");
    let mut routes = Vec::new();
    for line in source.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix(".route(\"") else {
            continue;
        };
        let path = rest.split('"').next().unwrap().to_string();
        for method in ["get", "post"] {
            if line.contains(&format!("{method}(")) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    // a route split over several lines names its method on the next line
    for window in source.lines().map(str::trim).collect::<Vec<_>>().windows(3) {
        if window[0] == ".route(" {
            let path = window[1].trim_matches(|c| c == '"' || c == ',').to_string();
            let method = if window[2].starts_with("post(") {
                "POST"
            } else {
                "GET"
            };
            routes.push((method.to_string(), path));
        }
    }
    routes
}

#[tokio::test]
async fn every_route_is_authorised_and_reaches_a_router_route() {
    let t = template();
    assert_eq!(t["Parameters"]["AuthMode"]["Default"], "IAM");
    assert_eq!(
        t["Conditions"]["IamAuth"],
        json!({"Fn::Equals": [{"Ref": "AuthMode"}, "IAM"]})
    );
    let routes = resources_of_type(&t, "AWS::ApiGatewayV2::Route");
    let expected_auth =
        json!({"Fn::If": ["IamAuth", "AWS_IAM", {"Fn::If": ["JwtAuth", "JWT", "NONE"]}]});
    let mut keys = Vec::new();
    for (name, route) in &routes {
        let p = &route["Properties"];
        assert_eq!(
            p["AuthorizationType"], expected_auth,
            "{name} must be authorised"
        );
        assert_eq!(
            p["Target"],
            json!({"Fn::Sub": "integrations/${PredictIntegration}"}),
            "{name}"
        );
        let key = p["RouteKey"].as_str().unwrap();
        assert!(
            !key.starts_with("$default") && !key.contains("{proxy+}"),
            "{name}: explicit routes only"
        );
        keys.push(key.to_string());
    }
    // every route of the router has its API Gateway route (TF Serving's catch-all maps to four)
    for (method, path) in router_paths() {
        if path.contains("{*rest}") {
            for suffix in ["{model}", "{model}/versions/{version}"] {
                assert!(
                    keys.contains(&format!("{method} /v1/models/{suffix}")),
                    "{method} /v1/models/{suffix}"
                );
            }
        } else {
            assert!(
                keys.contains(&format!("{method} {path}")),
                "no API route for {method} {path}"
            );
        }
    }
    // and every API Gateway route reaches a route of the router (not the 404 fallback)
    let handle = ModelHandle::load(
        format!("{}/digits@1", common::trained_store().display())
            .parse()
            .unwrap(),
        None,
    )
    .await;
    let app = router(handle, ServerConfig::default());
    for key in &keys {
        let (method, path) = key.split_once(' ').unwrap();
        let path = path
            .replace("{name}", "digits")
            .replace("{model}/versions/{version}", "digits/versions/1:predict")
            .replace(
                "{model}",
                if method == "POST" {
                    "digits:predict"
                } else {
                    "digits"
                },
            )
            .replace("{version}", "1");
        let path = if method == "GET" {
            path.replace(":predict", "")
        } else {
            path
        };
        let request = Request::builder()
            .method(method)
            .uri(&path)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("no route for"),
            "{key} ({path}) is not a router route: {text}"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{key}");
    }
}

//! The SAM template keeps its security properties and routes every route of the router:
//! a later edit cannot silently drop encryption, the TLS-only policy, the public access block,
//! least privilege or authorisation.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::python_json;

use axum::http::StatusCode;

use maas::server::router;
use maas::server::routes::{Route, ROUTES};
use maas::server::state::{ModelHandle, ServerConfig};
use serde_json::{json, Value};

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
    let names: Vec<&str> = roles.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "BatchFunctionRole",
            "BatchStateMachineRole",
            "PredictFunctionRole"
        ],
        "one role per principal"
    );
    for (_, role) in &roles {
        assert!(role["Properties"].get("ManagedPolicyArns").is_none());
    }
    let role = &t["Resources"]["PredictFunctionRole"]["Properties"];
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

/// Every statement of a role's inline policies (a conditional policy counts with its true
/// branch).
fn statements(role: &Value) -> Vec<&Value> {
    role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.get("Fn::If").map_or(p, |branches| &branches[1]))
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect()
}

#[test]
fn batch_scoring_reads_its_input_writes_its_output_and_nothing_else() {
    let t = template();
    let r = &t["Resources"];
    let mut s3 = Vec::new();
    for statement in statements(&r["BatchFunctionRole"]) {
        for action in as_list(&statement["Action"]) {
            assert!(!action.as_str().unwrap().contains('*'), "{action}");
            if action.as_str().unwrap().starts_with("s3:") {
                for resource in as_list(&statement["Resource"]) {
                    s3.push((action.as_str().unwrap().to_string(), resource.to_string()));
                }
            }
        }
    }
    for (action, resource) in &s3 {
        let allowed = match action.as_str() {
            "s3:GetObject" => [
                "${ModelsPrefix}/${ModelName}/*",
                "${BatchInputPrefix}/*",
                "${BatchOutputPrefix}/*",
            ]
            .iter()
            .any(|p| resource.contains(p)),
            "s3:PutObject" | "s3:AbortMultipartUpload" => {
                resource.contains("${BatchOutputPrefix}/*")
            }
            _ => false,
        };
        assert!(allowed, "{action} on {resource}");
    }
    // writes only under the output prefix, reads the input prefix
    assert!(s3
        .iter()
        .any(|(a, r)| a == "s3:GetObject" && r.contains("${BatchInputPrefix}/*")));
    let function = &r["BatchFunction"];
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(function["Metadata"]["BuildProperties"]["Binary"], "batch");
    let p = &function["Properties"];
    assert_eq!(p["CodeUri"], "../functions/batch");
    assert_eq!(p["DeadLetterQueue"]["Type"], "SQS");
    assert!(p["Environment"]["Variables"]["MAAS_BATCH_OUTPUT"]
        .to_string()
        .contains("${BatchOutputPrefix}/"));
    // events are opt-in; the queue retries only failed records and ends in the dead letters
    assert_eq!(t["Parameters"]["BatchTrigger"]["Default"], "NONE");
    assert_eq!(
        r["BatchQueueMapping"]["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        r["BatchQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]})
    );
    // the state machines: a Distributed Map over the prefix's listing, and over planned ranges
    let prefix =
        &r["BatchPrefixStateMachine"]["Properties"]["Definition"]["States"]["ScoreObjects"];
    assert_eq!(
        prefix["ItemReader"]["Resource"],
        "arn:aws:states:::s3:listObjectsV2"
    );
    assert_eq!(
        prefix["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    assert!(prefix["ItemProcessor"]["States"]["ScoreObject"]["Retry"].is_array());
    assert!(prefix.get("ToleratedFailurePercentage").is_some());
    assert!(prefix.get("ResultWriter").is_some());
    let ranges = &r["BatchRangesStateMachine"]["Properties"]["Definition"]["States"];
    assert!(ranges["PlanRanges"]["Parameters"]["Payload"]["plan"].is_object());
    assert_eq!(ranges["ScoreRanges"]["ItemsPath"], "$.items");
    // the state machines list only the input prefix and invoke only the batch function
    for statement in statements(&r["BatchStateMachineRole"]) {
        match statement["Sid"].as_str().unwrap() {
            "ListInput" => assert!(statement["Condition"]["StringLike"]["s3:prefix"]
                .to_string()
                .contains("${BatchInputPrefix}/*")),
            "InvokeBatchFunction" => assert_eq!(
                statement["Resource"],
                json!({"Fn::GetAtt": ["BatchFunction", "Arn"]})
            ),
            _ => {}
        }
    }
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
    // S3 by default; with ModelLayerArn, the layer's folder store under /opt and no S3 read
    let model = &p["Environment"]["Variables"]["MAAS_MODEL"]["Fn::If"];
    assert_eq!(model[0], "ModelInLayer");
    assert_eq!(
        model[1],
        json!({"Fn::Sub": "/opt/models/${ModelName}@${ModelAlias}"})
    );
    assert!(model[2]
        .to_string()
        .contains("s3://${Bucket}/${ModelsPrefix}/${ModelName}@${ModelAlias}"));
    assert_eq!(
        p["Layers"],
        json!({"Fn::If": ["ModelInLayer", [{"Ref": "ModelLayerArn"}], {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        t["Conditions"]["ModelInLayer"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ModelLayerArn"}, ""]}]})
    );
    assert_eq!(t["Parameters"]["ModelLayerArn"]["Default"], "");
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

/// The API Gateway route key of a router route: TF Serving's `:predict` rides inside the
/// `{model}` path parameter, the other paths are the same.
fn api_key(route: &Route) -> String {
    let path = if route.path.starts_with("/v1/models/") {
        route
            .path
            .trim_end_matches(":predict")
            .trim_end_matches(":explain")
            .replace("{name}", "{model}")
    } else {
        route.path.to_string()
    };
    format!("{} {path}", route.method)
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
    // the router's route table and the API's routes are the same set
    assert_eq!(ROUTES.len(), 29, "{ROUTES:?}");
    let mut from_table: Vec<String> = ROUTES.iter().map(api_key).collect();
    from_table.sort();
    from_table.dedup();
    let mut from_template = keys.clone();
    from_template.sort();
    assert_eq!(from_table, from_template);
    // and each reaches a route of the router (not the 404 fallback, not a wrong method)
    let handle = ModelHandle::load(
        format!("{}/digits@1", common::trained_store().display())
            .parse()
            .unwrap(),
        None,
    )
    .await;
    let app = router(handle, ServerConfig::default());
    for route in ROUTES {
        let path = route.path_for("digits", 1);
        let answer =
            common::http::send(&app, common::http::json_request(route.method, &path, "{}")).await;
        assert!(
            !answer.text.contains("no route for"),
            "{route:?} ({path}) is not a router route: {}",
            answer.text
        );
        assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{route:?}");
    }
}

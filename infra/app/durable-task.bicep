// The workflows' store when `workflowStore` is 'durableTask': a Durable Task Scheduler with one
// task hub, and the app's identity allowed to use it (Durable Task Data Contributor, at the
// scheduler). The service reaches it at DURABLE_TASK_ENDPOINT with a Microsoft Entra token for
// https://durabletask.io/.default (README, "The engine's store").
import { roles } from 'roles.bicep'

@description('Name of the scheduler.')
param name string

@description('Location of the scheduler.')
param location string = resourceGroup().location

@description('Tags of the scheduler.')
param tags object = {}

@description('Principal id of the identity the app runs as.')
param principalId string

@description('Name of the task hub the trips are kept in (DURABLE_TASK_HUB).')
param taskHubName string = 'trips'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // Consumption: billed per action, nothing while idle (README, "What it costs while idle").
    sku: {
      name: 'Consumption'
    }
    // An empty list refuses every call; Container Apps on the Consumption plan have no fixed
    // outbound address, and only Entra tokens with the data role get in.
    ipAllowlist: [
      '0.0.0.0/0'
    ]
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource dataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scheduler.id, principalId, roles.durableTaskDataContributor.id)
  scope: scheduler
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor.id)
  }
}

@description('The scheduler\'s endpoint (DURABLE_TASK_ENDPOINT).')
output endpoint string = scheduler.properties.endpoint

@description('The task hub (DURABLE_TASK_HUB).')
output taskHubName string = taskHub.name

@description('Name of the scheduler, for its dashboard in the Azure portal.')
output name string = scheduler.name

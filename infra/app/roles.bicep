// Built-in Azure role definitions the deployment assigns, in one place.
//
// Each entry is a built-in role's name and its definition id (the GUID is the same in every
// tenant and subscription). Checked against Microsoft's list of built-in roles
// (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles) and by
// tests/deployment_template.rs, which knows the same table and fails on any role id in infra/
// that it does not know.
//
// Other files import this table (`import { roles } from 'roles.bicep'`) and name a role as
// `roles.<key>.id`.

@export()
@description('Built-in role definitions used by the deployment: display name and definition id.')
var roles = {
  storageBlobDataContributor: {
    name: 'Storage Blob Data Contributor'
    id: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  }
  cognitiveServicesOpenAiUser: {
    name: 'Cognitive Services OpenAI User'
    id: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
  }
  acrPull: {
    name: 'AcrPull'
    id: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  }
  durableTaskDataContributor: {
    name: 'Durable Task Data Contributor'
    id: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
  }
}

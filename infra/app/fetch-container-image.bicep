// The image the container app runs now, so that `azd provision` keeps the image `azd deploy`
// last put there instead of going back to the placeholder (azd sets SERVICE_WEB_RESOURCE_EXISTS).

@description('Whether the container app already exists.')
param exists bool

@description('Name of the container app.')
param name string

resource existingApp 'Microsoft.App/containerApps@2025-01-01' existing = if (exists) {
  name: name
}

@description('The containers of the app\'s current template; empty when the app does not exist yet.')
output containers array = exists ? existingApp!.properties.template.containers : []

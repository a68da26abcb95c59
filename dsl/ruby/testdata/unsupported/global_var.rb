hosts [$host]

hosts {}

hosts {
  "web[01-05].internal",
  "db1",
  "web03.internal",
}

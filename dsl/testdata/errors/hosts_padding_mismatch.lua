hosts {
  "web[01-40]",
  "tronic[0100-660]",
}

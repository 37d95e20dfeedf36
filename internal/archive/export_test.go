package archive

// NewSizedWriter exposes the writer's sizing to the benchmarks that chose it.
var NewSizedWriter = newWriter

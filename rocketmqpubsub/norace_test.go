//go:build !race

package rocketmqpubsub_test

// raceBuild: race builds leave the client's pull thresholds at its defaults (subscriber.go says why).
const raceBuild = false

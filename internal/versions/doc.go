// Package versions pins every version of the offline supply chain in one place and names
// the images built from them: the kind node image, the control-plane images preloaded in
// it, the Calico images and manifest, and the demo app's image.
package versions

"""Taylor mode: series rules, the gathered fast paths, propagation through a graph,
interpolation of mixed partials, and the higher-order operations built on them."""

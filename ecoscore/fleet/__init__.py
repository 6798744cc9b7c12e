"""Fleet campaigns: one campaign file, many devices, one result store, on Ray.

A campaign lists entries (a workload, one or more models, engine settings, repeats) and the
device classes they run on. The driver (``ecoscore campaign run``) sends each entry to a
node of its class through Ray, where it runs through the same session path as ``ecoscore
run`` (``ecoscore.session``); the run record comes back, is verified on arrival and stored
under ``results/campaigns/<name>/runs/``. A node is started with ``ecoscore node start``.

Modules: ``campaign_file`` (the TOML file and its entries), ``blobs`` (content-addressed
transfer of models and data), ``node`` (what runs on a node), ``node_start`` (``ray
start`` for a board), ``ray_env`` (importing and joining Ray), ``store`` (the result
store and arrival checks), ``campaign_record`` (the campaign's own record, signable),
``driver`` (dispatch, retries, resumption) and ``report`` (the final comparison).

Ray is an optional extra (``pip install 'ecoscore[fleet]'``); nothing here imports it at
module level except ``ray_env``, which says how to install it when it is missing.
"""

"""paas.buildpacks"""
